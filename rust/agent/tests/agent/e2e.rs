//! The whole update, end to end: the real server, the real RAUC service,
//! the agent, and "reboots" played by restarting RAUC with another boot slot
//! and the agent with the same state directory.

use crate::helpers::*;
use crate::server::Server;
use hawkbit_compat_server::store::{ActionState, ActionType, AssignOptions};
use ota_testkit::data::image;
use update_agent::agent::Step;

async fn installed(dev: &Device, srv: &Server, extra: &str) -> (i64, update_agent::config::Config) {
    let token = srv.target("dev1").await;
    let bundle = dev.bundle("update-2.0.0.raucb", "2.0.0", COMPATIBLE, 5);
    let action = srv
        .assign("dev1", &bundle, "2.0.0", ActionType::Forced)
        .await;
    let cfg = config(dev, &srv.base, "dev1", &token, extra);
    let d = daemon(cfg.clone()).await;
    d.start().await.unwrap();
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Installed(action as u64)));
    assert!(took_reboot(dev), "the agent asked for a reboot");
    assert!(slot_holds(&dev.rauc.slot(1), &image(1 << 20, 5)));
    assert_eq!(
        srv.state(action).await,
        ActionState::Running,
        "not closed before the new slot is confirmed"
    );
    (action, cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successful_update_end_to_end() {
    let mut dev = Device::new();
    let srv = Server::start().await;
    let (action, cfg) = installed(&dev, &srv, "").await;
    dev.rauc.reboot_into("system1");
    let d = daemon(cfg).await;
    d.start().await.unwrap();
    assert!(!took_reboot(&dev));
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Reported(action as u64, true)));
    assert_eq!(srv.state(action).await, ActionState::Finished);
    assert!(dev.rauc.bootstate().contains("STATE_system1=good"));
    let msgs = srv.messages(action).await.join("\n");
    assert!(
        msgs.contains("downloading")
            && msgs.contains("installing")
            && msgs.contains("passed the health check"),
        "{msgs}"
    );
    // The next poll is quiet and the attributes reached the server.
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Idle));
    let target = srv
        .store
        .target_by_controller_id("dev1")
        .await
        .unwrap()
        .unwrap();
    let attrs = srv.store.target_attributes(target.target_id).await.unwrap();
    let get = |k: &str| {
        attrs
            .iter()
            .find(|(a, _)| a.as_str() == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("hw_revision").as_deref(), Some("rev-a"));
    assert_eq!(get("compatible").as_deref(), Some(COMPATIBLE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_check_failure_rolls_back_and_reports() {
    let mut dev = Device::new();
    let srv = Server::start().await;
    let (action, cfg) = installed(
        &dev,
        &srv,
        "[health]\ncommand = [\"false\"]\ntimeout = \"1s\"\n",
    )
    .await;
    dev.rauc.reboot_into("system1");
    let d = daemon(cfg.clone()).await;
    d.start().await.unwrap();
    assert!(took_reboot(&dev), "rebooted back to the old slot");
    let state = dev.rauc.bootstate();
    assert!(
        state.contains("PRIMARY=system0") && state.contains("STATE_system1=bad"),
        "{state}"
    );
    drop(d);
    dev.rauc.reboot_into("system0");
    let d = daemon(cfg).await;
    d.start().await.unwrap();
    assert!(!took_reboot(&dev), "no reboot loop");
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Reported(action as u64, false)));
    assert_eq!(srv.state(action).await, ActionState::Error);
    assert!(srv
        .messages(action)
        .await
        .join("\n")
        .contains("health check failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootloader_fallback_is_detected_and_reported() {
    let mut dev = Device::new();
    let srv = Server::start().await;
    let (action, cfg) = installed(&dev, &srv, "").await;
    // The new slot never came up; boot counting brought the device back to A.
    dev.rauc.reboot_into("system0");
    let d = daemon(cfg).await;
    d.start().await.unwrap();
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Reported(action as u64, false)));
    assert_eq!(srv.state(action).await, ActionState::Error);
    assert!(srv.messages(action).await.join("\n").contains("fell back"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_failure_is_reported() {
    let dev = Device::new();
    let srv = Server::start().await;
    let token = srv.target("dev1").await;
    let bundle = dev.bundle("wrong.raucb", "2.0.0", "Another Product", 5);
    let action = srv
        .assign("dev1", &bundle, "2.0.0", ActionType::Forced)
        .await;
    let d = daemon(config(&dev, &srv.base, "dev1", &token, "")).await;
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Failed(action as u64)));
    assert!(!took_reboot(&dev));
    assert_eq!(srv.state(action).await, ActionState::Error);
    assert!(srv.messages(action).await.join("\n").contains("ompatible"));
}

/// With `streaming = true` the agent downloads nothing: it hands RAUC the
/// artifact's URL and the device's token header. Debian's RAUC 1.8 is built
/// without streaming (meta-rauc's is built with it): given a URL it tries a
/// plain download of its own, which does not carry the streaming headers,
/// and the server refuses it. What is checked is that the URL went to RAUC
/// instead of the agent downloading, and that RAUC's reason reaches the
/// server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_hands_the_url_to_rauc_and_reports_its_answer() {
    let dev = Device::new();
    let srv = Server::start().await;
    let (token, action) = srv
        .release_for_dev1(&dev, &AssignOptions::of_type(ActionType::Forced))
        .await;
    let mut cfg = config(&dev, &srv.base, "dev1", &token, "");
    cfg.install.streaming = true;
    let d = daemon(cfg).await;
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Failed(action as u64)));
    assert!(!took_reboot(&dev));
    let downloads = dev.path("agent-state").join("downloads");
    let downloaded = std::fs::read_dir(&downloads)
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(
        downloaded,
        0,
        "nothing downloaded in {}",
        downloads.display()
    );
    assert!(
        slot_holds(&dev.rauc.slot(1), &vec![0u8; 2 << 20]),
        "slot B untouched"
    );
    assert_eq!(srv.state(action).await, ActionState::Error);
    let msgs = srv.messages(action).await;
    assert!(
        msgs.iter().any(|m| m == "installing (streaming)"),
        "{msgs:?}"
    );
    let failure = msgs
        .iter()
        .find(|m| m.starts_with("installation failed"))
        .unwrap_or_else(|| panic!("no failure reported: {msgs:?}"));
    assert!(
        failure.contains("/controller/v1/dev1/softwaremodules/")
            && failure.contains("/artifacts/u.raucb"),
        "RAUC was given the artifact's URL: {failure}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_mode_reports_but_never_installs() {
    let dev = Device::new();
    let srv = Server::start().await;
    let (token, action) = srv
        .release_for_dev1(&dev, &AssignOptions::of_type(ActionType::Forced))
        .await;
    let marker = dev.path("do_not_update");
    std::fs::write(&marker, b"").unwrap();
    let d = daemon(config(
        &dev,
        &srv.base,
        "dev1",
        &token,
        &format!("[development]\nmarker_file = \"{}\"\n", marker.display()),
    ))
    .await;
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Refused(action as u64)));
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Refused(action as u64)));
    let msgs = srv.messages(action).await;
    assert_eq!(
        msgs.iter().filter(|m| m.contains("development")).count(),
        1,
        "said once: {msgs:?}"
    );
    assert!(
        slot_holds(&dev.rauc.slot(1), &vec![0u8; 2 << 20]),
        "slot B untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_before_installation_is_accepted() {
    let dev = Device::new();
    let srv = Server::start().await;
    let (token, action) = srv
        .release_for_dev1(&dev, &AssignOptions::of_type(ActionType::Soft))
        .await;
    srv.store.request_cancel(action).await.unwrap();
    let d = daemon(config(&dev, &srv.base, "dev1", &token, "")).await;
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Canceled(action as u64)));
    assert_eq!(srv.state(action).await, ActionState::Canceled);
    assert!(slot_holds(&dev.rauc.slot(1), &vec![0u8; 2 << 20]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_and_500s_back_off() {
    let dev = Device::new();
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = daemon(config(
        &dev,
        &format!("http://127.0.0.1:{port}"),
        "dev1",
        "t",
        "",
    ))
    .await;
    let mut waits = Vec::new();
    for _ in 0..5 {
        let (step, wait) = d.tick().await;
        assert_eq!(step, None);
        waits.push(wait);
    }
    assert!(waits[4] > waits[0] * 4, "backs off: {waits:?}");
    assert!(waits
        .iter()
        .all(|w| *w <= std::time::Duration::from_secs(600)));

    // A server that answers 500 to everything (fault injection).
    let app = axum::Router::new()
        .fallback(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom") });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    let d = daemon(config(&dev, &url, "dev1", "t", "")).await;
    let (step, first) = d.tick().await;
    assert_eq!(step, None);
    let (_, second) = d.tick().await;
    assert!(second > first / 2, "{first:?} then {second:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_is_reported_before_downloading() {
    let dev = Device::new();
    let srv = Server::start().await;
    let (token, action) = srv
        .release_for_dev1(&dev, &AssignOptions::of_type(ActionType::Forced))
        .await;
    // The state directory on a real, small filesystem.
    let state = dev.path("agent-state");
    std::fs::create_dir_all(&state).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=128k", "tmpfs"])
        .arg(&state)
        .status()
        .unwrap();
    assert!(
        ok.success(),
        "mounting a tmpfs needs root (CI runs as root)"
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(state.clone());
    let d = daemon(config(&dev, &srv.base, "dev1", &token, "")).await;
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Failed(action as u64)));
    assert!(srv
        .messages(action)
        .await
        .join("\n")
        .contains("not enough space"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_and_agent_restart_resume_the_download() {
    let dev = Device::new();
    let srv = Server::start().await;
    let token = srv.target("dev1").await;
    // Mostly incompressible, so the bundle is large enough to cut in the middle.
    let bundle = dev.bundle_with(
        "big.raucb",
        "2.0.0",
        COMPATIBLE,
        &ota_testkit::data::noise(3 << 20, 9),
    );
    let size = std::fs::metadata(&bundle).unwrap().len();
    let action = srv
        .assign("dev1", &bundle, "2.0.0", ActionType::Forced)
        .await;
    let proxy =
        crate::proxy::CutProxy::start(srv.base.trim_start_matches("http://").to_string(), size / 2)
            .await;
    let cfg = config(&dev, &proxy.url, "dev1", &token, "");
    let d = daemon(cfg.clone()).await;
    let (step, _) = d.tick().await;
    assert_eq!(
        step, None,
        "the first attempt fails when the connection drops"
    );
    assert!(proxy.cut_done.load(std::sync::atomic::Ordering::SeqCst));
    let part = dev.path(&format!("agent-state/downloads/action-{action}.raucb.part"));
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(
        kept > 0 && kept < size,
        "partial download kept: {kept} of {size}"
    );
    // The agent process dies and starts again (same state directory).
    drop(d);
    let sent_before = proxy
        .bytes_to_client
        .load(std::sync::atomic::Ordering::SeqCst);
    let d = daemon(cfg).await;
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Installed(action as u64)));
    // What crossed the link after the restart: the missing part (plus a few
    // small DDI answers), not the whole bundle again.
    let resumed = proxy
        .bytes_to_client
        .load(std::sync::atomic::Ordering::SeqCst)
        - sent_before;
    assert!(
        resumed >= size - kept && resumed < size,
        "{resumed} bytes sent after the restart; bundle {size}, kept {kept}"
    );
    let ranges = proxy.range_requests();
    assert_eq!(ranges.len(), 1, "one resumed request: {ranges:?}");
    let from: u64 = ranges[0]
        .split('=')
        .nth(1)
        .unwrap()
        .trim_end_matches('-')
        .trim()
        .parse()
        .unwrap();
    assert_eq!(from, kept, "resumed where it stopped, not from zero");
    assert!(slot_holds(
        &dev.rauc.slot(1),
        &ota_testkit::data::noise(3 << 20, 9)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_killed_during_installation_recovers() {
    let dev = Device::new();
    let srv = Server::start().await;
    let token = srv.target("dev1").await;
    let bundle = dev.bundle_with(
        "big.raucb",
        "2.0.0",
        COMPATIBLE,
        &ota_testkit::data::noise(8 << 20, 3),
    );
    let action = srv
        .assign("dev1", &bundle, "2.0.0", ActionType::Forced)
        .await;
    let cfg = config(&dev, &srv.base, "dev1", &token, "");
    let d = daemon(cfg.clone()).await;
    let watcher = update_agent::installer::Installer::connect(&dev.bus())
        .await
        .unwrap();
    let tick = tokio::spawn(async move { d.tick().await });
    // Kill the agent as soon as RAUC is writing.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while watcher.operation().await.unwrap() != "installing" {
        assert!(
            std::time::Instant::now() < deadline,
            "installation never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tick.abort();
    let _ = tick.await;
    // RAUC finishes on its own; the restarted agent must not leave the
    // action hanging: it installs again (RAUC is idempotent) and reboots.
    let d = daemon(cfg).await;
    d.start().await.unwrap();
    let mut step = None;
    let mut seen = Vec::new();
    for _ in 0..30 {
        let (s, _) = d.tick().await;
        seen.push(s.clone());
        if s == Some(Step::Installed(action as u64)) {
            step = s;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(
        step,
        Some(Step::Installed(action as u64)),
        "steps {seen:?}, last error: {:?}, messages {:?}",
        d.last_error(),
        srv.messages(action).await
    );
    assert!(slot_holds(
        &dev.rauc.slot(1),
        &ota_testkit::data::noise(8 << 20, 3)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_upload_installs_good_bundles_and_refuses_unknown_signers() {
    let dev = Device::new();
    let srv = Server::start().await;
    let token = srv.target("dev1").await;
    let local_token = dev.path("local.token");
    std::fs::write(&local_token, "local-secret-0123456789").unwrap();
    let extra = format!(
        "[local]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"{}\"\nkeyring = \"{}\"\nmax_bundle_bytes = 20000000\nchecker = \"{}\"\n",
        local_token.display(),
        dev.pki.keyring().display(),
        env!("CARGO_BIN_EXE_update-agent-check-bundle"),
    );
    let cfg = config(&dev, &srv.base, "dev1", &token, &extra);
    let d = daemon(cfg.clone()).await;
    let app = update_agent::local::router(
        d.agent(),
        cfg.local.clone().unwrap(),
        "local-secret-0123456789".into(),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>, tok: &'static str| {
        http.post(format!("{url}/bundle"))
            .bearer_auth(tok)
            .body(body)
            .send()
    };

    // Signed by a key this device does not trust.
    let stranger = ota_testkit::pki::Pki::new();
    let foreign = dev.bundle_signed_by("foreign.raucb", "2.0.0", &stranger, 4);
    let r = post(std::fs::read(&foreign).unwrap(), "local-secret-0123456789")
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let msg = r.text().await.unwrap();
    assert!(
        msg.contains("unable to get local issuer certificate"),
        "{msg}"
    );
    assert!(
        slot_holds(&dev.rauc.slot(1), &vec![0u8; 2 << 20]),
        "nothing written"
    );

    let good = dev.bundle("good.raucb", "2.0.0", COMPATIBLE, 6);
    let r = post(std::fs::read(&good).unwrap(), "wrong-token")
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = post(std::fs::read(&good).unwrap(), "local-secret-0123456789")
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert!(slot_holds(&dev.rauc.slot(1), &image(1 << 20, 6)));
    assert!(took_reboot(&dev) || d.agent().lock().await.reboot_requested());
    let status: serde_json::Value = http
        .get(format!("{url}/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "installed");
    let too_big = vec![0u8; 20_000_001];
    let r = post(too_big, "local-secret-0123456789").await.unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_download_stops_it_and_is_accepted() {
    let dev = Device::new();
    let srv = Server::start().await;
    let token = srv.target("dev1").await;
    let bundle = dev.bundle_with(
        "big.raucb",
        "2.0.0",
        COMPATIBLE,
        &ota_testkit::data::noise(3 << 20, 9),
    );
    let action = srv.assign("dev1", &bundle, "2.0.0", ActionType::Soft).await;
    // A slow link: about 3 s for the bundle, no cut.
    let proxy = crate::proxy::CutProxy::start_with(
        srv.base.trim_start_matches("http://").to_string(),
        u64::MAX,
        std::time::Duration::from_millis(15),
    )
    .await;
    let d = daemon(config(&dev, &proxy.url, "dev1", &token, "")).await;
    let tick = tokio::spawn(async move { d.tick().await });
    let part = dev.path(&format!("agent-state/downloads/action-{action}.raucb.part"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "download never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    srv.store.request_cancel(action).await.unwrap();
    let (step, _) = tick.await.unwrap();
    assert_eq!(step, Some(Step::Canceled(action as u64)));
    assert_eq!(srv.state(action).await, ActionState::Canceled);
    assert!(!part.exists(), "partial download removed");
    assert!(
        slot_holds(&dev.rauc.slot(1), &vec![0u8; 2 << 20]),
        "nothing installed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_installation_is_rejected() {
    let mut dev = Device::new();
    let srv = Server::start().await;
    let (action, cfg) = installed(&dev, &srv, "").await;
    srv.store.request_cancel(action).await.unwrap();
    let d = daemon(cfg.clone()).await;
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Canceled(action as u64)));
    assert!(
        srv.messages(action)
            .await
            .join("\n")
            .contains("cannot cancel"),
        "{:?}",
        srv.messages(action).await
    );
    // The update goes on across the reboot and is still confirmed.
    drop(d);
    dev.rauc.reboot_into("system1");
    let d = daemon(cfg).await;
    d.start().await.unwrap();
    assert!(dev.rauc.bootstate().contains("STATE_system1=good"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_configuration_is_applied_and_confirmed() {
    let dev = Device::new();
    let srv = Server::start().await;
    let token = srv.target("dev1").await;
    let schema = dev.path("schema.json");
    std::fs::write(
        &schema,
        r#"{"keys": {"ssid": {"required": true}, "interval": {"type": "integer"}}, "additional_keys": false}"#,
    )
    .unwrap();
    let file = dev.path("app/device-config.json");
    let reloaded = dev.path("reloaded");
    let extra = format!(
        "[device_config]\npath = \"{}\"\nschema = \"{}\"\nreload_command = [\"touch\", \"{}\"]\n",
        file.display(),
        schema.display(),
        reloaded.display()
    );
    let d = daemon(config(&dev, &srv.base, "dev1", &token, &extra)).await;
    let http = reqwest::Client::new();
    let put = |body: &'static str| {
        http.put(format!("{}/rest/v1/targets/dev1/config", srv.base))
            .basic_auth("admin", Some("admin-password-for-tests"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    assert!(put(r#"{"ssid": "field-net", "interval": "30"}"#)
        .await
        .unwrap()
        .status()
        .is_success());
    let (step, _) = d.tick().await;
    assert_eq!(step, Some(Step::Idle), "{:?}", d.last_error());
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        written,
        serde_json::json!({"ssid": "field-net", "interval": "30"})
    );
    assert!(reloaded.exists(), "reload command ran");
    let target = srv
        .store
        .target_by_controller_id("dev1")
        .await
        .unwrap()
        .unwrap();
    let st = srv
        .store
        .device_config_state(target.target_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (st.applied_revision, st.applied_error.clone()),
        (st.revision, None)
    );

    // A configuration the schema refuses is reported, and the file stays.
    assert!(put(r#"{"ssid": "field-net", "interval": "soon"}"#)
        .await
        .unwrap()
        .status()
        .is_success());
    d.tick().await;
    let st = srv
        .store
        .device_config_state(target.target_id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        st.applied_error
            .as_deref()
            .unwrap_or("")
            .contains("interval"),
        "{st:?}"
    );
    let still: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(still["interval"], "30");
}
