//! The server's consent flow, answered in each `consent.mode`, against the
//! real server (actions created waiting for confirmation) and RAUC. In
//! application mode the answer goes through the real control socket.

use crate::helpers::*;
use crate::server::Server;
use hawkbit_compat_server::store::{ActionState, ActionType, AssignOptions};
use ota_testkit::data::image;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use update_agent::agent::Step;

async fn waiting_action(dev: &Device, srv: &Server) -> (String, i64) {
    let opts = AssignOptions {
        confirmation_required: true,
        ..AssignOptions::of_type(ActionType::Forced)
    };
    let (token, action) = srv.release_for_dev1(dev, &opts).await;
    assert_eq!(srv.state(action).await, ActionState::WaitForConfirmation);
    (token, action)
}

fn slot_b_untouched(dev: &Device) -> bool {
    slot_holds(&dev.rauc.slot(1), &vec![0u8; 2 << 20])
}

/// One HTTP/1.1 request on the control socket; returns status and body.
async fn control(sock: &Path, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = tokio::net::UnixStream::connect(sock).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_mode_leaves_the_action_to_the_operator() {
    let dev = Device::new();
    let srv = Server::start().await;
    let (token, action) = waiting_action(&dev, &srv).await;
    let d = daemon(config(&dev, &srv.base, "dev1", &token, "")).await;
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::AwaitingConsent(action as u64)));
    assert_eq!(srv.state(action).await, ActionState::WaitForConfirmation);
    assert!(slot_b_untouched(&dev));
    // The operator confirms on the server; the next poll installs.
    srv.store
        .confirm_action(action, true, None, vec!["operator".into()])
        .await
        .unwrap();
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Installed(action as u64)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_mode_confirms_and_the_update_follows_at_once() {
    let dev = Device::new();
    let srv = Server::start().await;
    let (token, action) = waiting_action(&dev, &srv).await;
    let d = daemon(config(
        &dev,
        &srv.base,
        "dev1",
        &token,
        "[consent]\nmode = \"auto\"\n",
    ))
    .await;
    let (step, wait) = d.tick().await;
    assert_eq!(step, Some(Step::Consented(action as u64, true)));
    assert_eq!(
        wait,
        std::time::Duration::ZERO,
        "the deployment is fetched at once"
    );
    assert_eq!(srv.state(action).await, ActionState::Running);
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Installed(action as u64)));
    assert!(slot_holds(&dev.rauc.slot(1), &image(1 << 20, 5)));
    let msgs = srv.messages(action).await.join("\n");
    assert!(msgs.contains("confirmed by the device"), "{msgs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_mode_answers_through_the_control_socket() {
    let dev = Device::new();
    let srv = Server::start().await;
    let (token, action) = waiting_action(&dev, &srv).await;
    let sock = dev.path("control.sock");
    let d = daemon(config(
        &dev,
        &srv.base,
        "dev1",
        &token,
        &format!(
            "control_socket = \"{}\"\n[consent]\nmode = \"application\"\n",
            sock.display()
        ),
    ))
    .await;
    let (deferral, desk) = {
        let agent = d.agent();
        let a = agent.lock().await;
        (a.defer.clone(), a.consent.clone())
    };
    let listener = update_agent::control::bind(&sock).unwrap();
    tokio::spawn(update_agent::control::serve(listener, deferral, desk));

    // Nothing waits before the agent has polled.
    assert_eq!(control(&sock, "GET", "/consent", "").await.0, 204);
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::AwaitingConsent(action as u64)));
    let (status, body) = control(&sock, "GET", "/consent", "").await;
    assert_eq!(status, 200, "{body}");
    let waiting: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(waiting["action"], action);
    assert_eq!(waiting["version"], "2.0.0");
    assert_eq!(waiting["update"], "forced");

    // An answer about another action is refused and changes nothing.
    let (status, body) = control(
        &sock,
        "POST",
        "/consent",
        &format!(r#"{{"action": {}, "confirmed": true}}"#, action + 1),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::AwaitingConsent(action as u64)));

    // The user says "not now": the server records the denial, the action
    // keeps waiting, and the application is asked again.
    let answer =
        format!(r#"{{"action": {action}, "confirmed": false, "details": "user is busy"}}"#);
    assert_eq!(control(&sock, "POST", "/consent", &answer).await.0, 202);
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Consented(action as u64, false)));
    assert_eq!(srv.state(action).await, ActionState::WaitForConfirmation);
    assert!(slot_b_untouched(&dev));
    let msgs = srv.messages(action).await.join("\n");
    assert!(
        msgs.contains("denied by the application: user is busy"),
        "{msgs}"
    );
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::AwaitingConsent(action as u64)));

    // Then "yes": the update is installed.
    let answer = format!(r#"{{"action": {action}, "confirmed": true}}"#);
    assert_eq!(control(&sock, "POST", "/consent", &answer).await.0, 202);
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Consented(action as u64, true)));
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Installed(action as u64)));
    assert_eq!(control(&sock, "GET", "/consent", "").await.0, 204);
}

#[test]
fn application_mode_needs_the_control_socket() {
    let text = r#"
[server]
url = "http://localhost"
controller_id = "dev1"
[consent]
mode = "application"
"#;
    let err = update_agent::config::Config::parse(text, Path::new("a.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("reboot.control_socket"), "{err}");
}
