//! A DDI client nobody here wrote: the PyPI `rauc-hawkbit` package (its `rauc_hawkbit.ddi`
//! layer, driven by `tests/peer/rauc_hawkbit_peer.py` the way its daemon drives it) completes a
//! whole update against the real server.
//!
//! Needs the venv made by `ci/peer-clients` (or `RAUC_HAWKBIT_PYTHON` naming a python that can
//! `import rauc_hawkbit.ddi`). Without it the test fails with instructions, like the PostgreSQL
//! half of the store suite: skipping silently would hide a compatibility break.

use std::path::{Path, PathBuf};

use hawkbit_compat_server::store::{ActionState, ActionType, HistoryStatus};
use serde_json::Value;

use crate::helpers::spawn_app;

fn peer_python() -> PathBuf {
    if let Ok(p) = std::env::var("RAUC_HAWKBIT_PYTHON") {
        return p.into();
    }
    let venv =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/.work/peer-clients/venv/bin/python");
    assert!(
        venv.exists(),
        "the rauc-hawkbit peer client is not installed. Run\n  ci/peer-clients\n\
         (it makes a venv in ci/.work/peer-clients) and run the tests again."
    );
    venv
}

#[tokio::test]
async fn rauc_hawkbit_python_client_completes_an_update() {
    let python = peer_python();
    let app = spawn_app().await;
    let firmware: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let d = app
        .deploy(
            "py-dev",
            &[("update.raucb.img", &firmware)],
            ActionType::Forced,
        )
        .await;
    // A per-device configuration is pending, so every poll this client sees
    // carries the extra `deviceConfig` link it does not know: it must carry on.
    let r = app
        .mgmt(reqwest::Method::PUT, "/targets/py-dev/config")
        .header("Content-Type", "application/json")
        .body(r#"{"log_level": "debug"}"#)
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "setting the device configuration: {}",
        r.status()
    );
    let base = app.poll_ok("py-dev", &d.token).await;
    assert!(base["_links"]["deviceConfig"].is_object(), "{base}");
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("bundle");
    let host = app.base.trim_start_matches("http://").to_owned();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peer/rauc_hawkbit_peer.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .args([&host, "DEFAULT", "py-dev", &d.token])
        .arg(&dl)
        .output()
        .await
        .expect("run the Python peer");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "peer client failed:\n{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("peer report");

    // The client found the action through the ?c= link and downloaded the exact bytes.
    assert_eq!(report["action_id"], d.action_id.to_string());
    assert_eq!(report["configData"], "sent");
    assert_eq!(std::fs::read(&dl).unwrap(), firmware);
    // The action is finished, the device's attributes are stored, and the next poll offers the
    // installed base instead of a deployment.
    let action = app.store.action(d.action_id).await.unwrap().unwrap();
    assert_eq!(action.state, ActionState::Finished);
    assert!(!action.active);
    assert!(app
        .store
        .action_has_status(d.action_id, HistoryStatus::Retrieved)
        .await
        .unwrap());
    let target = app
        .store
        .target_by_controller_id("py-dev")
        .await
        .unwrap()
        .unwrap();
    let attrs = app.store.target_attributes(target.target_id).await.unwrap();
    assert_eq!(
        attrs.get("installed_version").map(String::as_str),
        Some("1.0.0")
    );
    let links: Vec<&str> = report["links_after"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(links.contains(&"installedBase"), "{links:?}");
    assert!(!links.contains(&"deploymentBase"), "{links:?}");
}
