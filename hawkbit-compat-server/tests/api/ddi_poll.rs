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

/// Polls are answered from memory until the store writes; every kind of write that changes a
/// device's answer shows on its very next poll.
#[tokio::test]
async fn polls_from_memory_follow_every_write_at_once() {
    let app = spawn_app().await;
    let (t, token) = app.create_target("dev1").await;
    let links = |v: serde_json::Value| v["_links"].clone();
    assert!(links(app.poll_ok("dev1", &token).await)["configData"].is_object());

    // A write the store did not make (another process, behind its back) is not seen: the
    // answer really comes from memory.
    let url = format!("sqlite://{}", app.data_dir().join("server.db").display());
    let side = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE target SET request_attributes = 0 WHERE controller_id = 'dev1'")
        .execute(&side)
        .await
        .unwrap();
    assert!(links(app.poll_ok("dev1", &token).await)["configData"].is_object());
    // A write about another device leaves this device's answer alone...
    let (t2, _) = app.create_target("dev2").await;
    app.store
        .set_request_attributes(t2.target_id, false)
        .await
        .unwrap();
    assert!(links(app.poll_ok("dev1", &token).await)["configData"].is_object());
    // ...one about this device refreshes it, and the side change shows too.
    app.store
        .set_request_attributes(t.target_id, false)
        .await
        .unwrap();
    assert_eq!(links(app.poll_ok("dev1", &token).await), json!({}));

    // Assignment.
    let d = app
        .deploy("dev1", &[("fw.bin", b"firmware")], ActionType::Forced)
        .await;
    let l = links(app.poll_ok("dev1", &token).await);
    assert!(l["deploymentBase"]["href"]
        .as_str()
        .unwrap()
        .contains(&format!("/deploymentBase/{}?c=", d.action_id)));

    // Cancellation by the operator.
    app.store.request_cancel(d.action_id).await.unwrap();
    let l = links(app.poll_ok("dev1", &token).await);
    assert!(l["cancelAction"].is_object() && l.get("deploymentBase").is_none());

    // A second release, finished by the device's own feedback.
    let cancel_fb = app.ddi_url("dev1", &format!("/cancelAction/{}/feedback", d.action_id));
    let body = json!({"status": {"execution": "closed", "result": {"finished": "success"}}});
    assert_eq!(app.post_json(&cancel_fb, &token, &body).await.status(), 200);
    assert_eq!(links(app.poll_ok("dev1", &token).await), json!({}));
    let d2 = app
        .deploy("dev1", &[("fw2.bin", b"firmware 2")], ActionType::Forced)
        .await;
    assert!(links(app.poll_ok("dev1", &token).await)["deploymentBase"].is_object());
    let fb = app.ddi_url(
        "dev1",
        &format!("/deploymentBase/{}/feedback", d2.action_id),
    );
    assert_eq!(app.post_json(&fb, &token, &body).await.status(), 200);
    let l = links(app.poll_ok("dev1", &token).await);
    assert!(l.get("deploymentBase").is_none());
    assert!(l["installedBase"]["href"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/installedBase/{}", d2.action_id)));

    // A write about many devices (a new saved filter) refreshes every answer.
    sqlx::query("UPDATE target SET request_attributes = 1 WHERE controller_id = 'dev1'")
        .execute(&side)
        .await
        .unwrap();
    let r = app
        .mgmt(reqwest::Method::POST, "/targetfilters")
        .json(&json!({"name": "all", "query": "id==*"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    assert!(links(app.poll_ok("dev1", &token).await)["configData"].is_object());

    // Configuration set by the operator.
    let r = app
        .mgmt(reqwest::Method::PUT, "/targets/dev1/config")
        .json(&json!({"log.level": "debug"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(links(app.poll_ok("dev1", &token).await)["deviceConfig"].is_object());

    // Credentials are checked on answers from memory too; deletion locks the device out.
    assert_eq!(app.poll("dev1", "wrong-token").await.status(), 401);
    assert!(app.poll_ok("dev1", &token).await["_links"]["deviceConfig"].is_object());
    let r = app
        .mgmt(reqwest::Method::DELETE, "/targets/dev1")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(app.poll("dev1", &token).await.status(), 401);
}

/// With PostgreSQL, other instances may write, so by default nothing is reused: a change made
/// behind this server's back shows on the next poll.
#[tokio::test]
async fn polls_on_postgres_read_the_database_unless_told_otherwise() {
    let url = crate::helpers::postgres_database_url().await;
    let app = crate::helpers::spawn_app_with(|c| c.database_url = url.clone()).await;
    let (_, token) = app.create_target("dev1").await;
    assert!(app.poll_ok("dev1", &token).await["_links"]["configData"].is_object());
    let side = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE target SET request_attributes = 0 WHERE controller_id = 'dev1'")
        .execute(&side)
        .await
        .unwrap();
    assert_eq!(app.poll_ok("dev1", &token).await["_links"], json!({}));
}

#[tokio::test]
async fn a_second_server_on_the_same_sqlite_file_is_refused() {
    let app = spawn_app().await;
    let mut config = hawkbit_compat_server::config::Config::load(Default::default()).unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.data_dir = app.data_dir().join("second");
    config.database_url = format!("sqlite://{}", app.data_dir().join("server.db").display());
    let err = hawkbit_compat_server::startup::Application::build(config)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("another server is already using the database"),
        "{msg}"
    );
}
