//! Cancellation.

use hawkbit_compat_server::store::{ActionState, ActionType};
use ota_ddi::{ActionId, CancelActionBase};
use reqwest::Method;
use serde_json::json;

use crate::helpers::spawn_app;

fn report(execution: &str, finished: &str) -> serde_json::Value {
    json!({"status": {"execution": execution, "result": {"finished": finished}}})
}

#[tokio::test]
async fn accepted_cancellation_closes_the_action() {
    let app = spawn_app().await;
    let d = app
        .deploy("dev1", &[("fw.bin", b"fw")], ActionType::Forced)
        .await;
    let cancel_url = app.ddi_url("dev1", &format!("/cancelAction/{}", d.action_id));
    // Not being canceled yet: 404; its feedback endpoint says 405 (as hawkBit: the action
    // exists but cannot be canceled now).
    assert_eq!(
        app.ddi(Method::GET, &cancel_url, &d.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let fb_url = format!("{cancel_url}/feedback");
    assert_eq!(
        app.post_json(&fb_url, &d.token, &report("closed", "success"))
            .await
            .status(),
        405
    );

    app.store.request_cancel(d.action_id).await.unwrap();
    let base = app.poll_ok("dev1", &d.token).await;
    assert_eq!(base["_links"]["cancelAction"]["href"], cancel_url);
    assert!(base["_links"].get("deploymentBase").is_none());
    let dep_url = app.ddi_url("dev1", &format!("/deploymentBase/{}", d.action_id));
    assert_eq!(
        app.ddi(Method::GET, &dep_url, &d.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let c: CancelActionBase = app
        .ddi(Method::GET, &cancel_url, &d.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(c.id, ActionId(d.action_id as u64));
    assert_eq!(c.cancel_action.stop_id, ActionId(d.action_id as u64));

    let r = app
        .post_json(&fb_url, &d.token, &report("closed", "success"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.store.action(d.action_id).await.unwrap().unwrap().state,
        ActionState::Canceled
    );
    assert_eq!(
        app.poll_ok("dev1", &d.token).await["_links"].get("cancelAction"),
        None
    );
    assert_eq!(
        app.post_json(&fb_url, &d.token, &report("closed", "success"))
            .await
            .status(),
        410
    );
    // Deployment feedback on the canceled action is 410 as well.
    let dep_fb = format!("{dep_url}/feedback");
    assert_eq!(
        app.post_json(&dep_fb, &d.token, &report("closed", "success"))
            .await
            .status(),
        410
    );
}

#[tokio::test]
async fn rejected_cancellation_lets_the_update_continue() {
    let app = spawn_app().await;
    let d = app
        .deploy("dev1", &[("fw.bin", b"fw")], ActionType::Forced)
        .await;
    app.store.request_cancel(d.action_id).await.unwrap();
    let fb_url = app.ddi_url("dev1", &format!("/cancelAction/{}/feedback", d.action_id));
    // What the Python client always sends.
    let body = json!({"id": "", "time": "x", "status": {"execution": "rejected", "result": {"finished": "success"}, "details": ["Cancelling not supported"]}});
    assert_eq!(app.post_json(&fb_url, &d.token, &body).await.status(), 200);
    let action = app.store.action(d.action_id).await.unwrap().unwrap();
    assert_eq!((action.state, action.active), (ActionState::Running, true));
    let base = app.poll_ok("dev1", &d.token).await;
    assert!(base["_links"]["deploymentBase"]["href"].as_str().is_some());
}
