//! Maintenance windows: assignments that may only be installed while a window is open.

use hawkbit_compat_server::store::{ActionType, AssignOptions, MaintenanceWindow};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// Assigns through the management API; returns the response status and body.
async fn assign(app: &TestApp, ds: i64, window: Value) -> (u16, Value) {
    let r = app
        .mgmt(
            Method::POST,
            &format!("/distributionsets/{ds}/assignedTargets"),
        )
        .json(&json!([{"id": "dev1", "type": "forced", "maintenanceWindow": window}]))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn deployment(app: &TestApp, token: &str) -> Value {
    let poll = app.poll_ok("dev1", token).await;
    let href = poll["_links"]["deploymentBase"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ddi(Method::GET, &href, token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// UTC hour twelve hours away from now: a one-hour daily window there is surely closed.
fn far_hour() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (now / 3600 + 12) % 24
}

#[tokio::test]
async fn an_open_window_allows_installing() {
    let app = spawn_app().await;
    let (_, token) = app.create_target("dev1").await;
    let (_, ds) = app.release("r1", &[("fw.bin", b"fw")]).await;
    // A window every minute lasting a minute: always open.
    let window = json!({"schedule": "0 * * * * ?", "duration": "00:01:00", "timezone": "+00:00"});
    let (status, body) = assign(&app, ds, window.clone()).await;
    assert_eq!(status, 200, "{body}");
    let d = deployment(&app, &token).await;
    assert_eq!(d["deployment"]["maintenanceWindow"], "available");
    assert_eq!(d["deployment"]["update"], "forced");
    // The operator sees the window on the action.
    let actions: Value = app
        .mgmt(Method::GET, "/targets/dev1/actions")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(actions["content"][0]["maintenanceWindow"], window);
}

#[tokio::test]
async fn a_closed_window_allows_downloading_only() {
    let app = spawn_app().await;
    let (_, token) = app.create_target("dev1").await;
    let (_, ds) = app.release("r1", &[("fw.bin", b"fw")]).await;
    let schedule = format!("0 0 {} * * ?", far_hour());
    let window = json!({"schedule": schedule, "duration": "01:00:00", "timezone": "Z"});
    let (status, body) = assign(&app, ds, window).await;
    assert_eq!(status, 200, "{body}");
    let d = deployment(&app, &token).await;
    assert_eq!(d["deployment"]["maintenanceWindow"], "unavailable");
    assert_eq!(d["deployment"]["download"], "forced");
    assert_eq!(d["deployment"]["update"], "skip");
}

#[tokio::test]
async fn bad_windows_are_refused_with_the_reason() {
    let app = spawn_app().await;
    app.create_target("dev1").await;
    let (_, ds) = app.release("r1", &[("fw.bin", b"fw")]).await;
    for (window, needle) in [
        (
            json!({"schedule": "0 0 3 L * ?", "duration": "01:00:00"}),
            "day-of-month",
        ),
        (
            json!({"schedule": "0 0 3 * * ?", "duration": "1h"}),
            "duration",
        ),
        (
            json!({"schedule": "0 0 3 * * ?", "duration": "01:00:00", "timezone": "CET"}),
            "timezone",
        ),
        (
            json!({"schedule": "0 0 0 1 1 ? 2020", "duration": "01:00:00"}),
            "never",
        ),
    ] {
        let (status, body) = assign(&app, ds, window.clone()).await;
        assert_eq!(status, 400, "{window}: {body}");
        let msg = body["message"].as_str().unwrap_or_default().to_lowercase();
        assert!(
            msg.contains("maintenancewindow") && msg.contains(needle),
            "{window}: {msg}"
        );
    }
    let t = app
        .store
        .target_by_controller_id("dev1")
        .await
        .unwrap()
        .unwrap();
    assert!(
        app.store
            .active_actions(t.target_id)
            .await
            .unwrap()
            .is_empty(),
        "nothing assigned"
    );
}

#[tokio::test]
async fn a_lapsed_schedule_cancels_the_action() {
    let app = spawn_app().await;
    let (t, token) = app.create_target("dev1").await;
    let (_, ds) = app.release("r1", &[("fw.bin", b"fw")]).await;
    // Stored directly: the API refuses schedules without a future window, but one can lapse
    // after the assignment (a year field).
    let action = app
        .store
        .assign_with(
            t.target_id,
            ds,
            &AssignOptions {
                maintenance: Some(MaintenanceWindow {
                    schedule: "0 0 0 1 1 ? 2020".into(),
                    duration: "01:00:00".into(),
                    timezone: "+00:00".into(),
                }),
                ..AssignOptions::of_type(ActionType::Forced)
            },
        )
        .await
        .unwrap();
    let poll = app.poll_ok("dev1", &token).await;
    assert!(poll["_links"].get("deploymentBase").is_none(), "{poll}");
    assert!(poll["_links"]["cancelAction"]["href"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/cancelAction/{}", action.action_id)));
    let history = app
        .store
        .action_history(action.action_id, 10)
        .await
        .unwrap();
    assert!(history
        .iter()
        .any(|e| e.messages.iter().any(|m| m.contains("lapsed"))));
}
