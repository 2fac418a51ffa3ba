//! Per-device configuration: management endpoints, the DDI extension, revisions, 304s, and
//! secrets that never reach logs or operator responses.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use ota_ddi::{AppliedConfig, ControllerBase, DeviceConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

const SECRET: &str = "pa55-Secret-value-7f3c91";

async fn mgmt(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut req = app.mgmt(method.clone(), path);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let s = r.status();
    let text = r.text().await.unwrap();
    assert!(s.is_success(), "{method} {path}: {s} {text}");
    serde_json::from_str(&text).unwrap()
}

async fn poll(app: &TestApp, id: &str, token: &str) -> ControllerBase {
    app.ddi(Method::GET, &app.ddi_url(id, ""), token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn fetch(app: &TestApp, id: &str, token: &str, etag: Option<&str>) -> reqwest::Response {
    let mut req = app.ddi(Method::GET, &app.ddi_url(id, "/deviceConfig"), token);
    if let Some(e) = etag {
        req = req.header("If-None-Match", e);
    }
    req.send().await.unwrap()
}

async fn report(app: &TestApp, id: &str, token: &str, body: &AppliedConfig) -> StatusCode {
    app.ddi(
        Method::PUT,
        &app.ddi_url(id, "/deviceConfig/applied"),
        token,
    )
    .json(body)
    .send()
    .await
    .unwrap()
    .status()
}

/// Collects everything the tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs, once for the test binary, a global subscriber that records everything the server
/// and the database driver log, at every level, and returns the record. Global rather than
/// scoped: a scoped subscriber can miss events whose call sites other test threads registered
/// first.
fn captured_logs() -> Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "hawkbit_compat_server=trace,sqlx=trace,axum=trace,tower=trace,warn",
            ))
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other test installs a global subscriber");
        logs
    })
    .clone()
}

#[tokio::test]
async fn configuration_reaches_the_device_with_precedence_revisions_and_304s() {
    let captured = captured_logs();
    let app = spawn_app().await;
    let (t1, tok1) = app.create_target("cfg-1").await;
    let (_, tok2) = app.create_target("cfg-2").await;
    app.store
        .update_target_attributes(
            t1.target_id,
            &ota_ddi::ConfigData {
                data: [("hw_revision".to_owned(), "rev-b".to_owned())].into(),
                mode: None,
            },
        )
        .await
        .unwrap();

    // Nothing configured: no link, and the base poll is unchanged for old clients.
    let base = poll(&app, "cfg-1", &tok1).await;
    assert!(base.links.device_config.is_none());

    mgmt(
        &app,
        Method::PUT,
        "/system/deviceconfig",
        Some(json!({"log.level": "info", "ntp.server": "pool.ntp.org"})),
    )
    .await;
    let f = mgmt(
        &app,
        Method::POST,
        "/targetfilters",
        Some(json!({"name": "rev-b boards", "query": "attribute.hw_revision==rev-b"})),
    )
    .await;
    let fid = f["id"].as_i64().unwrap();
    mgmt(
        &app,
        Method::PUT,
        &format!("/targetfilters/{fid}/config"),
        Some(json!({"log.level": "debug", "mqtt.host": "broker-b.example.com"})),
    )
    .await;
    let put = mgmt(
        &app,
        Method::PUT,
        "/targets/cfg-1/config",
        Some(json!({"mqtt.host": "broker-1.example.com",
                    "mqtt.password": {"value": SECRET, "secret": true}})),
    )
    .await;
    assert_eq!(put["revision"], 1);
    assert_eq!(put["config"]["mqtt.password"], json!({"secret": true}));
    assert_eq!(
        put["effective"]["log.level"]["source"],
        json!({"targetFilter": fid})
    );
    assert_eq!(put["effective"]["ntp.server"]["source"], "tenant");
    assert_eq!(
        put["effective"]["mqtt.host"]["value"],
        "broker-1.example.com"
    );
    assert_eq!(put["device"]["upToDate"], false);

    // The device is told, fetches, gets the merged values (secrets in clear, only here).
    let base = poll(&app, "cfg-1", &tok1).await;
    let href = base.links.device_config.expect("deviceConfig link").href;
    assert!(
        href.ends_with("/DEFAULT/controller/v1/cfg-1/deviceConfig"),
        "{href}"
    );
    let r = fetch(&app, "cfg-1", &tok1, None).await;
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let cfg: DeviceConfig = r.json().await.unwrap();
    assert_eq!(cfg.revision, 1);
    assert_eq!(cfg.config["log.level"], "debug");
    assert_eq!(cfg.config["ntp.server"], "pool.ntp.org");
    assert_eq!(cfg.config["mqtt.host"], "broker-1.example.com");
    assert_eq!(cfg.config["mqtt.password"], SECRET);
    let r = fetch(&app, "cfg-1", &tok1, Some(&etag)).await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert!(r.text().await.unwrap().is_empty());
    let r = fetch(&app, "cfg-1", &tok1, Some("\"config-0\"")).await;
    assert_eq!(r.status(), 200);
    // Another device sees only its own merge.
    let other: DeviceConfig = fetch(&app, "cfg-2", &tok2, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other.config.len(), 2);
    assert_eq!(other.config["log.level"], "info");

    // Confirming removes the link; a failed apply is visible to the operator.
    assert_eq!(
        report(&app, "cfg-1", &tok1, &AppliedConfig::applied(1)).await,
        200
    );
    assert!(poll(&app, "cfg-1", &tok1)
        .await
        .links
        .device_config
        .is_none());
    let view = mgmt(&app, Method::GET, "/targets/cfg-1/config", None).await;
    assert_eq!(view["device"]["upToDate"], true);
    assert_eq!(view["device"]["appliedRevision"], 1);
    assert_eq!(
        report(&app, "cfg-1", &tok1, &AppliedConfig::applied(9)).await,
        StatusCode::CONFLICT
    );

    // Any change to a scope the device draws from makes a new revision and a new ETag.
    mgmt(
        &app,
        Method::PUT,
        "/system/deviceconfig",
        Some(json!({"log.level": "warn", "ntp.server": "time.example.com"})),
    )
    .await;
    assert!(poll(&app, "cfg-1", &tok1)
        .await
        .links
        .device_config
        .is_some());
    let r = fetch(&app, "cfg-1", &tok1, Some(&etag)).await;
    assert_eq!(r.status(), 200);
    assert_ne!(r.headers()["etag"].to_str().unwrap(), etag);
    let cfg: DeviceConfig = r.json().await.unwrap();
    assert_eq!(cfg.revision, 2);
    assert_eq!(cfg.config["ntp.server"], "time.example.com");
    assert_eq!(
        report(
            &app,
            "cfg-1",
            &tok1,
            &AppliedConfig::failed(2, "ntp.server unreachable")
        )
        .await,
        200
    );
    let view = mgmt(&app, Method::GET, "/targets/cfg-1/config", None).await;
    assert_eq!(view["device"]["upToDate"], false);
    assert!(view["device"]["error"]
        .as_str()
        .unwrap()
        .contains("unreachable"));

    // History, newest first; secrets masked there too.
    mgmt(
        &app,
        Method::PUT,
        "/targets/cfg-1/config",
        Some(json!({"mqtt.host": "b3"})),
    )
    .await;
    let hist = mgmt(&app, Method::GET, "/targets/cfg-1/config/history", None).await;
    assert_eq!(hist["total"], 2);
    assert_eq!(hist["content"][0]["revision"], 2);
    assert_eq!(
        hist["content"][1]["config"]["mqtt.password"],
        json!({"secret": true})
    );
    let tenant_hist = mgmt(&app, Method::GET, "/system/deviceconfig/history", None).await;
    assert_eq!(tenant_hist["total"], 2);
    let fhist = mgmt(
        &app,
        Method::GET,
        &format!("/targetfilters/{fid}/config/history"),
        None,
    )
    .await;
    assert_eq!(fhist["total"], 1);

    // The secret never appears in any operator response, list or log line.
    for path in [
        "/targets",
        "/targets/cfg-1",
        "/targets/cfg-1/config",
        "/targets/cfg-1/config/history",
        "/targets/cfg-1/attributes",
        "/system/deviceconfig",
        "/targetfilters",
    ] {
        let text = app
            .mgmt(Method::GET, path)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!text.contains(SECRET), "{path} leaks the secret: {text}");
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("target configuration saved") && logs.contains("device configuration report"),
        "the capture must see the server's logs: {logs}"
    );
    assert!(!logs.contains(SECRET), "a log line contains the secret");
}

#[tokio::test]
async fn bad_configuration_requests_are_refused() {
    let app = spawn_app().await;
    let (_, tok) = app.create_target("cfg-x").await;
    for body in [
        json!({"a b": "x"}),
        json!({"k": 5}),
        json!({"k": {"value": "v", "secret": "yes"}}),
        json!(["k"]),
    ] {
        let r = app
            .mgmt(Method::PUT, "/targets/cfg-x/config")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let r = app
        .mgmt(Method::PUT, "/targets/nobody/config")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // A device without configuration has revision 0 and cannot confirm anything.
    let cfg: DeviceConfig = fetch(&app, "cfg-x", &tok, None).await.json().await.unwrap();
    assert_eq!((cfg.revision, cfg.config.len()), (0, 0));
    assert_eq!(
        report(&app, "cfg-x", &tok, &AppliedConfig::applied(1)).await,
        StatusCode::CONFLICT
    );
    // Other devices' tokens do not open this device's configuration.
    let (_, other) = app.create_target("cfg-y").await;
    assert_eq!(fetch(&app, "cfg-x", &other, None).await.status(), 401);
    // Read-only operators can read but not write.
    let r = app
        .mgmt_as(Method::PUT, "/system/deviceconfig", "nobody", "wrong")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
