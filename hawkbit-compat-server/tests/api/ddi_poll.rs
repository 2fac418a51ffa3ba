//! Base poll and configData.

use hawkbit_compat_server::store::ActionType;
use ota_ddi::{paths, ActionId, ControllerBase};
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn new_target_is_asked_for_attributes_until_it_sends_them() {
    let app = spawn_app().await;
    let (_, token) = app.create_target("dev1").await;

    let base = app.poll_ok("dev1", &token).await;
    assert_eq!(base["config"]["polling"]["sleep"], "00:05:00");
    let href = base["_links"]["configData"]["href"].as_str().unwrap();
    assert_eq!(href, app.ddi_url("dev1", "/configData"));
    assert!(base["_links"].get("deploymentBase").is_none());

    // What rauc-hawkbit-updater sends: legacy fields, no mode. Must be exactly 200.
    let body = r#"{"time":"20261129T123756","status":{"result":{"finished":"success"},"execution":"closed"},"data":{"model":"T1","hw_revision":"2"}}"#;
    let r = app
        .ddi(reqwest::Method::PUT, href, &token)
        .header("Content-Type", "application/json;charset=UTF-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "");

    let base = app.poll_ok("dev1", &token).await;
    assert_eq!(
        base["_links"],
        json!({}),
        "nothing to do and attributes known"
    );
    let t = app
        .store
        .target_by_controller_id("dev1")
        .await
        .unwrap()
        .unwrap();
    let attrs = app.store.target_attributes(t.target_id).await.unwrap();
    assert_eq!(attrs["model"], "T1");
    assert!(t.last_poll_at.is_some());
}

#[tokio::test]
async fn config_data_modes_and_bad_bodies() {
    let app = spawn_app().await;
    let (t, token) = app.create_target("dev1").await;
    let url = app.ddi_url("dev1", "/configData");
    let put = |body: String| {
        app.ddi(reqwest::Method::PUT, &url, &token)
            .body(body)
            .send()
    };
    assert_eq!(
        put(json!({"data": {"a": "1", "b": "2"}}).to_string())
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        put(json!({"data": {"a": ""}, "mode": "remove"}).to_string())
            .await
            .unwrap()
            .status(),
        200
    );
    let attrs = app.store.target_attributes(t.target_id).await.unwrap();
    assert_eq!(attrs.keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(
        put(json!({"data": {"c": "3"}, "mode": "replace"}).to_string())
            .await
            .unwrap()
            .status(),
        200
    );
    let attrs = app.store.target_attributes(t.target_id).await.unwrap();
    assert_eq!(attrs.keys().collect::<Vec<_>>(), ["c"]);

    for bad in [
        "not json",
        r#"{"mode":"merge"}"#,
        r#"{"data":{},"mode":"append"}"#,
    ] {
        let r = put(bad.into()).await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["errorCode"], "bad_request");
    }
}

#[tokio::test]
async fn assignment_shows_as_deployment_link_with_cache_parameter() {
    let app = spawn_app().await;
    let d = app
        .deploy("dev1", &[("fw.bin", b"firmware")], ActionType::Forced)
        .await;
    let base: ControllerBase = app.poll("dev1", &d.token).await.json().await.unwrap();
    let href = base
        .links
        .deployment_base
        .expect("deploymentBase link")
        .href;
    // The Python client extracts id and c with this pattern; it must match.
    let (id, c) = paths::parse_deployment_href(&href).unwrap();
    assert_eq!(id, ActionId(d.action_id as u64));
    let c = c.expect("?c= is always present");
    assert_eq!(
        href,
        format!(
            "{}{}",
            app.base,
            paths::deployment_base("DEFAULT", "dev1", id, c)
        )
    );
    assert!(base.links.cancel_action.is_none());
    assert!(base.links.installed_base.is_none());

    // A new assignment with another handling type changes the link.
    let d2 = app
        .deploy("dev1", &[("fw2.bin", b"fw2")], ActionType::Soft)
        .await;
    let base: ControllerBase = app.poll("dev1", &d.token).await.json().await.unwrap();
    // The older action is now being canceled, so the device is told to cancel it first.
    assert_eq!(
        base.links.cancel_action.unwrap().href,
        app.ddi_url("dev1", &format!("/cancelAction/{}", d.action_id))
    );
    assert!(base.links.deployment_base.is_none());
    assert_ne!(d2.action_id, d.action_id);
}

#[tokio::test]
async fn tenant_is_matched_case_insensitively_and_others_are_not_found() {
    let app = spawn_app().await;
    let (_, token) = app.create_target("dev1").await;
    let get = |tenant: &str| {
        app.ddi(
            reqwest::Method::GET,
            &format!("{}/{tenant}/controller/v1/dev1", app.base),
            &token,
        )
        .send()
    };
    assert_eq!(get("default").await.unwrap().status(), 200);
    assert_eq!(get("DEFAULT").await.unwrap().status(), 200);
    assert_eq!(get("other").await.unwrap().status(), 404);
}

#[tokio::test]
async fn configured_poll_interval_and_external_url_are_used() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.poll_interval = "00:00:30".parse().unwrap();
        c.external_url = Some("https://updates.example.com".into());
    })
    .await;
    let (_, token) = app.create_target("dev1").await;
    let base = app.poll_ok("dev1", &token).await;
    assert_eq!(base["config"]["polling"]["sleep"], "00:00:30");
    assert_eq!(
        base["_links"]["configData"]["href"],
        "https://updates.example.com/DEFAULT/controller/v1/dev1/configData"
    );
}
