//! deploymentBase, feedback and installedBase.

use hawkbit_compat_server::store::{ActionState, ActionType};
use ota_ddi::{ActionId, DeploymentBase, HandlingType};
use reqwest::Method;
use serde_json::json;

use crate::helpers::spawn_app;

fn closed(finished: &str) -> serde_json::Value {
    json!({"status": {"execution": "closed", "result": {"finished": finished}, "details": ["done"]}})
}

#[tokio::test]
async fn deployment_describes_modules_and_artifacts_with_all_hashes() {
    let app = spawn_app().await;
    let d = app
        .deploy(
            "dev1",
            &[("hello.raucb", b"hello world")],
            ActionType::Forced,
        )
        .await;
    let url = app.ddi_url("dev1", &format!("/deploymentBase/{}?c=123", d.action_id));
    let r = app.ddi(Method::GET, &url, &d.token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let dep: DeploymentBase = r.json().await.unwrap();
    assert_eq!(dep.id, ActionId(d.action_id as u64));
    assert_eq!(dep.deployment.download, HandlingType::Forced);
    assert_eq!(dep.deployment.update, HandlingType::Forced);
    assert!(dep.deployment.maintenance_window.is_none());
    assert!(dep.action_history.is_none());
    assert_eq!(dep.deployment.chunks.len(), 1);
    let chunk = &dep.deployment.chunks[0];
    assert_eq!((chunk.part.as_str(), chunk.version.as_str()), ("os", "1.0"));
    let a = &chunk.artifacts[0];
    assert_eq!(a.filename, "hello.raucb");
    assert_eq!(a.size, 11);
    assert_eq!(a.hashes.md5, "5eb63bbbe01eeed093cb22bb8f5acdc3");
    assert_eq!(a.hashes.sha1, "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed");
    assert_eq!(
        a.hashes.sha256.as_deref(),
        Some("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9")
    );
    // Plain HTTP server: the -http link names.
    let href = &a.links.download_http.as_ref().unwrap().href;
    assert!(a.links.download.is_none());
    let body = app
        .ddi(Method::GET, href, &d.token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&body[..], b"hello world");
    let md5 = app
        .ddi(
            Method::GET,
            &a.links.md5sum_http.as_ref().unwrap().href,
            &d.token,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(md5, "5eb63bbbe01eeed093cb22bb8f5acdc3  hello.raucb\n");
}

#[tokio::test]
async fn handling_types_follow_the_action_type() {
    let app = spawn_app().await;
    for (i, (t, dl, up)) in [
        (
            ActionType::Soft,
            HandlingType::Attempt,
            HandlingType::Attempt,
        ),
        (
            ActionType::DownloadOnly,
            HandlingType::Forced,
            HandlingType::Skip,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let controller = format!("dev{i}");
        let d = app.deploy(&controller, &[("f", b"x")], t).await;
        let url = app.ddi_url(&controller, &format!("/deploymentBase/{}", d.action_id));
        let dep: DeploymentBase = app
            .ddi(Method::GET, &url, &d.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (dep.deployment.download, dep.deployment.update),
            (dl, up),
            "{t:?}"
        );
    }
}

#[tokio::test]
async fn full_update_cycle_with_real_client_bodies() {
    let app = spawn_app().await;
    let d = app
        .deploy("dev1", &[("fw.bin", b"fw")], ActionType::Forced)
        .await;
    let feedback = app.ddi_url("dev1", &format!("/deploymentBase/{}/feedback", d.action_id));

    // swupdate (numeric id, cnt/of), rauc-hawkbit-updater (string id), Python ({percentage}, {}).
    for body in [
        r#"{"id":7,"time":"20261129T123628","status":{"result":{"progress":{"cnt":0,"of":1},"finished":"none"},"execution":"proceeding","details":["Installing Update Chunk Artifacts."]}}"#,
        r#"{"id":"7","time":"20261129T123801","status":{"result":{"finished":"none"},"execution":"proceeding","details":["Download complete. 0.06 MB/s"]}}"#,
        r#"{"id":"7","time":"...","status":{"result":{"progress":{"percentage":50},"finished":"none"},"execution":"proceeding","details":["50%"]}}"#,
    ] {
        let r = app
            .ddi(Method::POST, &feedback, &d.token)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{body}");
        assert_eq!(r.text().await.unwrap(), "");
    }
    let closing = r#"{"id":"7","time":"...","status":{"result":{"progress":{},"finished":"success"},"execution":"closed","details":["done"]}}"#;
    let r = app
        .ddi(Method::POST, &feedback, &d.token)
        .body(closing)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let action = app.store.action(d.action_id).await.unwrap().unwrap();
    assert_eq!(
        (action.state, action.active),
        (ActionState::Finished, false)
    );

    // Closed: further feedback is 410, the deployment is gone, the installed base is offered,
    // and the server asks for attributes again.
    let again = app.post_json(&feedback, &d.token, &closed("success")).await;
    assert_eq!(again.status(), 410);
    let dep_url = app.ddi_url("dev1", &format!("/deploymentBase/{}", d.action_id));
    assert_eq!(
        app.ddi(Method::GET, &dep_url, &d.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let base = app.poll_ok("dev1", &d.token).await;
    assert!(base["_links"].get("deploymentBase").is_none());
    let installed = base["_links"]["installedBase"]["href"].as_str().unwrap();
    assert_eq!(
        installed,
        app.ddi_url("dev1", &format!("/installedBase/{}", d.action_id))
    );
    assert!(base["_links"].get("configData").is_some());
    let r = app
        .ddi(Method::GET, installed, &d.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ib: DeploymentBase = r.json().await.unwrap();
    assert_eq!(ib.deployment.chunks[0].artifacts[0].filename, "fw.bin");
    // Files of the installed release stay downloadable.
    let href = ib.deployment.chunks[0].artifacts[0]
        .links
        .download_http
        .clone()
        .unwrap()
        .href;
    assert_eq!(
        app.ddi(Method::GET, &href, &d.token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn failure_closes_the_action_as_error_without_installed_base() {
    let app = spawn_app().await;
    let d = app
        .deploy("dev1", &[("fw.bin", b"fw")], ActionType::Forced)
        .await;
    let feedback = app.ddi_url("dev1", &format!("/deploymentBase/{}/feedback", d.action_id));
    assert_eq!(
        app.post_json(&feedback, &d.token, &closed("failure"))
            .await
            .status(),
        200
    );
    let action = app.store.action(d.action_id).await.unwrap().unwrap();
    assert_eq!(action.state, ActionState::Error);
    let base = app.poll_ok("dev1", &d.token).await;
    assert!(base["_links"].get("installedBase").is_none());
    let installed = app.ddi_url("dev1", &format!("/installedBase/{}", d.action_id));
    assert_eq!(
        app.ddi(Method::GET, &installed, &d.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn installed_base_is_404_while_the_action_is_open() {
    let app = spawn_app().await;
    let d = app
        .deploy("dev1", &[("fw.bin", b"fw")], ActionType::Forced)
        .await;
    let installed = app.ddi_url("dev1", &format!("/installedBase/{}", d.action_id));
    assert_eq!(
        app.ddi(Method::GET, &installed, &d.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn download_only_action_closes_on_downloaded() {
    let app = spawn_app().await;
    let d = app
        .deploy("dev1", &[("fw.bin", b"fw")], ActionType::DownloadOnly)
        .await;
    let feedback = app.ddi_url("dev1", &format!("/deploymentBase/{}/feedback", d.action_id));
    let body = json!({"status": {"execution": "downloaded", "result": {"finished": "success"}}});
    assert_eq!(
        app.post_json(&feedback, &d.token, &body).await.status(),
        200
    );
    assert_eq!(
        app.store.action(d.action_id).await.unwrap().unwrap().state,
        ActionState::Finished
    );
}

#[tokio::test]
async fn feedback_errors_unknown_action_bad_body() {
    let app = spawn_app().await;
    let d = app
        .deploy("dev1", &[("fw.bin", b"fw")], ActionType::Forced)
        .await;
    let unknown = app.ddi_url("dev1", "/deploymentBase/999999/feedback");
    assert_eq!(
        app.post_json(&unknown, &d.token, &closed("success"))
            .await
            .status(),
        404
    );
    let not_a_number = app.ddi_url("dev1", "/deploymentBase/abc/feedback");
    assert_eq!(
        app.post_json(&not_a_number, &d.token, &closed("success"))
            .await
            .status(),
        404
    );
    let feedback = app.ddi_url("dev1", &format!("/deploymentBase/{}/feedback", d.action_id));
    for bad in [
        json!({"status": {"execution": "finished", "result": {"finished": "success"}}}),
        json!({}),
    ] {
        assert_eq!(
            app.post_json(&feedback, &d.token, &bad).await.status(),
            400,
            "{bad}"
        );
    }
    // The action is untouched by the rejected bodies.
    assert!(app.store.action(d.action_id).await.unwrap().unwrap().active);
}

#[tokio::test]
async fn action_history_is_included_on_request_newest_first() {
    let app = spawn_app().await;
    let d = app
        .deploy("dev1", &[("fw.bin", b"fw")], ActionType::Forced)
        .await;
    // The first retrieval is itself recorded in the history.
    let plain = app.ddi_url("dev1", &format!("/deploymentBase/{}", d.action_id));
    assert_eq!(
        app.ddi(Method::GET, &plain, &d.token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let feedback = app.ddi_url("dev1", &format!("/deploymentBase/{}/feedback", d.action_id));
    let body = json!({"status": {"execution": "proceeding", "result": {"finished": "none"}, "details": ["step one"]}});
    assert_eq!(
        app.post_json(&feedback, &d.token, &body).await.status(),
        200
    );
    let url = app.ddi_url(
        "dev1",
        &format!("/deploymentBase/{}?actionHistory=-1", d.action_id),
    );
    let dep: DeploymentBase = app
        .ddi(Method::GET, &url, &d.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let history = dep.action_history.expect("history requested");
    assert_eq!(history.status, "RUNNING");
    assert_eq!(
        history.messages.first().map(String::as_str),
        Some("step one")
    );
    assert_eq!(
        history.messages,
        [
            "step one",
            "Update Server: target retrieved update action",
            "Update Server: assignment initiated"
        ]
    );

    let one = app.ddi_url(
        "dev1",
        &format!("/deploymentBase/{}?actionHistory=1", d.action_id),
    );
    let dep: DeploymentBase = app
        .ddi(Method::GET, &one, &d.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dep.action_history.unwrap().messages, ["step one"]);
}
