//! The user-consent flow: actions waiting for confirmation, the device's answer, auto-confirm,
//! and the operator's side of it.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};

async fn flow_app() -> TestApp {
    spawn_app_with(|c| c.confirmation_flow = true).await
}

/// Assigns through the management API; returns the new action's id.
async fn assign(app: &TestApp, controller: &str, ds: i64, extra: Value) -> i64 {
    let mut body = json!({"id": ds, "type": "forced"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let r = app
        .mgmt(Method::POST, &format!("/targets/{controller}/assignedDS"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["assignedActions"][0]["id"].as_i64().unwrap()
}

/// A DDI GET that must answer JSON.
async fn get_json(app: &TestApp, url: &str, token: &str) -> Value {
    app.ddi(Method::GET, url, token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn action_status(app: &TestApp, controller: &str, id: i64) -> String {
    let v: Value = app
        .mgmt(Method::GET, &format!("/targets/{controller}/actions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let a = v["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .unwrap();
    a["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_action_waits_until_the_device_confirms_it() {
    let app = flow_app().await;
    let (_, token) = app.create_target("dev1").await;
    let (_, ds) = app.release("r1", &[("fw.bin", b"firmware")]).await;
    let id = assign(&app, "dev1", ds, json!({})).await;
    assert_eq!(
        action_status(&app, "dev1", id).await,
        "wait_for_confirmation"
    );

    let links = app.poll_ok("dev1", &token).await["_links"].clone();
    assert!(links.get("deploymentBase").is_none());
    let href = links["confirmationBase"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        href.starts_with(&app.ddi_url("dev1", &format!("/confirmationBase/{id}?c="))),
        "{href}"
    );
    // Not offered as a deployment yet: 404 for it and for deployment feedback.
    let deployment = app.ddi_url("dev1", &format!("/deploymentBase/{id}"));
    let r = app
        .ddi(Method::GET, &deployment, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let running = json!({"status": {"execution": "proceeding", "result": {"finished": "none"}}});
    let r = app
        .post_json(&format!("{deployment}/feedback"), &token, &running)
        .await;
    assert_eq!(r.status(), 404);

    // The overview names the waiting action and offers auto-confirm.
    let base: Value = get_json(&app, &app.ddi_url("dev1", "/confirmationBase"), &token).await;
    assert_eq!(base["autoConfirm"], json!({"active": false}));
    assert_eq!(base["_links"]["confirmationBase"]["href"], href.as_str());
    assert!(base["_links"]["activateAutoConfirm"].is_object());
    assert!(base["_links"].get("deactivateAutoConfirm").is_none());

    // What would be deployed, shaped like a deployment.
    let details: Value = get_json(&app, &href, &token).await;
    assert_eq!(details["id"], id.to_string());
    assert_eq!(details["confirmation"]["download"], "forced");
    assert_eq!(
        details["confirmation"]["chunks"][0]["artifacts"][0]["filename"],
        "fw.bin"
    );

    // Denied: still waiting, with the reason in the history.
    let fb = app.ddi_url("dev1", &format!("/confirmationBase/{id}/feedback"));
    let deny = json!({"confirmation": "denied", "code": 12, "details": ["user said later"]});
    assert_eq!(app.post_json(&fb, &token, &deny).await.status(), 200);
    assert_eq!(
        action_status(&app, "dev1", id).await,
        "wait_for_confirmation"
    );
    let history = app.store.action_history(id, 10).await.unwrap();
    assert!(history
        .iter()
        .any(|e| e.messages.iter().any(|m| m == "user said later") && e.code == Some(12)));
    // Malformed answers change nothing.
    let r = app
        .post_json(&fb, &token, &json!({"confirmation": "maybe"}))
        .await;
    assert_eq!(r.status(), 400);

    // Confirmed: the action runs and the poll offers the deployment.
    let confirm = json!({"confirmation": "confirmed"});
    assert_eq!(app.post_json(&fb, &token, &confirm).await.status(), 200);
    assert_eq!(action_status(&app, "dev1", id).await, "running");
    let links = app.poll_ok("dev1", &token).await["_links"].clone();
    assert!(links.get("confirmationBase").is_none());
    assert!(links["deploymentBase"].is_object());
    // Answering again: it no longer waits.
    assert_eq!(app.post_json(&fb, &token, &confirm).await.status(), 404);
    let r = app.ddi(Method::GET, &href, &token).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn auto_confirm_confirms_what_waits_and_what_comes() {
    let app = flow_app().await;
    let (_, token) = app.create_target("dev1").await;
    let (_, ds1) = app.release("r1", &[("a.bin", b"a")]).await;
    let (_, ds2) = app.release("r2", &[("b.bin", b"b")]).await;
    let id1 = assign(&app, "dev1", ds1, json!({})).await;
    assert_eq!(
        action_status(&app, "dev1", id1).await,
        "wait_for_confirmation"
    );

    let activate = app.ddi_url("dev1", "/confirmationBase/activateAutoConfirm");
    let body = json!({"initiator": "user@device", "remark": "always fine"});
    assert_eq!(app.post_json(&activate, &token, &body).await.status(), 200);
    assert_eq!(action_status(&app, "dev1", id1).await, "running");
    assert!(app.poll_ok("dev1", &token).await["_links"]["deploymentBase"].is_object());
    // Already on: 409.
    assert_eq!(app.post_json(&activate, &token, &body).await.status(), 409);

    let base: Value = get_json(&app, &app.ddi_url("dev1", "/confirmationBase"), &token).await;
    assert_eq!(base["autoConfirm"]["active"], true);
    assert_eq!(base["autoConfirm"]["initiator"], "user@device");
    assert_eq!(base["autoConfirm"]["remark"], "always fine");
    assert!(base["autoConfirm"]["activatedAt"].as_i64().unwrap() > 0);
    assert!(base["_links"]["deactivateAutoConfirm"].is_object());
    let mgmt: Value = app
        .mgmt(Method::GET, "/targets/dev1/autoConfirm")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mgmt["active"], true);

    // A later assignment runs at once.
    let id2 = assign(&app, "dev1", ds2, json!({})).await;
    assert_eq!(action_status(&app, "dev1", id2).await, "running");

    // Off again (the operator this time): the next one waits.
    let r = app
        .mgmt(Method::POST, "/targets/dev1/autoConfirm/deactivate")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let id3 = assign(&app, "dev1", ds1, json!({})).await;
    assert_eq!(
        action_status(&app, "dev1", id3).await,
        "wait_for_confirmation"
    );
    // The operator confirms on the device's behalf.
    let r = app
        .mgmt(
            Method::PUT,
            &format!("/targets/dev1/actions/{id3}/confirmation"),
        )
        .json(&json!({"confirmation": "confirmed", "details": ["confirmed by phone"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(action_status(&app, "dev1", id3).await, "running");
    let r = app
        .mgmt(
            Method::PUT,
            &format!("/targets/dev1/actions/{id3}/confirmation"),
        )
        .json(&json!({"confirmation": "confirmed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "no longer waiting");
}

#[tokio::test]
async fn without_the_flow_or_when_not_required_actions_run_at_once() {
    let app = flow_app().await;
    app.create_target("dev1").await;
    let (_, ds) = app.release("r1", &[("a.bin", b"a")]).await;
    let id = assign(&app, "dev1", ds, json!({"confirmationRequired": false})).await;
    assert_eq!(action_status(&app, "dev1", id).await, "running");

    let plain = crate::helpers::spawn_app().await;
    plain.create_target("dev1").await;
    let (_, ds) = plain.release("r1", &[("a.bin", b"a")]).await;
    let id = assign(&plain, "dev1", ds, json!({"confirmationRequired": true})).await;
    assert_eq!(action_status(&plain, "dev1", id).await, "running");
}

#[tokio::test]
async fn a_device_cannot_answer_for_another() {
    let app = flow_app().await;
    let (_, token1) = app.create_target("dev1").await;
    app.create_target("dev2").await;
    let (_, ds) = app.release("r1", &[("a.bin", b"a")]).await;
    let id = assign(&app, "dev2", ds, json!({})).await;
    let foreign = app.ddi_url("dev1", &format!("/confirmationBase/{id}"));
    let r = app
        .ddi(Method::GET, &foreign, &token1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = app
        .post_json(
            &format!("{foreign}/feedback"),
            &token1,
            &json!({"confirmation": "confirmed"}),
        )
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        action_status(&app, "dev2", id).await,
        "wait_for_confirmation"
    );
}
