//! The downgrade guard: a release whose bundle is older than the version a device reports
//! (`installed_version` in configData) is not assigned unless the assignment says
//! `"downgrade": true`.

use hawkbit_compat_server::store::{
    BundleMeta, NewArtifact, NewDistributionSet, NewSoftwareModule,
};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// A distribution set holding one (already verified) bundle of `version`.
async fn release(app: &TestApp, version: &str) -> i64 {
    let m = app
        .store
        .create_software_module(&NewSoftwareModule {
            name: "rootfs".into(),
            version: version.into(),
            module_type: "os".into(),
            vendor: String::new(),
            description: String::new(),
        })
        .await
        .unwrap();
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(
        format!("bundle {version}"),
    ))]);
    let stored = app.artifacts.store_stream(stream, u64::MAX).await.unwrap();
    app.store
        .add_artifact(&NewArtifact {
            software_module_id: m.software_module_id,
            filename: "update.raucb".into(),
            sha1: stored.sha1,
            md5: stored.md5,
            sha256: stored.sha256,
            size: stored.size,
            bundle: Some(BundleMeta {
                compatible: "acme-board".into(),
                version: Some(version.into()),
            }),
        })
        .await
        .unwrap();
    app.store
        .create_distribution_set(&NewDistributionSet {
            name: format!("release-{version}"),
            version: version.into(),
            description: String::new(),
            module_ids: vec![m.software_module_id],
        })
        .await
        .unwrap()
        .distribution_set_id
}

async fn report_version(app: &TestApp, controller: &str, token: &str, version: &str) {
    let r = app
        .ddi(Method::PUT, &app.ddi_url(controller, "/configData"), token)
        .json(&json!({"mode": "merge", "data": {"installed_version": version}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn assign(app: &TestApp, controller: &str, body: Value) -> reqwest::Response {
    app.mgmt(Method::POST, &format!("/targets/{controller}/assignedDS"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn older_bundles_are_assigned_only_as_explicit_downgrades() {
    let app = spawn_app().await;
    let (target, token) = app.create_target("dev1").await;
    report_version(&app, "dev1", &token, "2.0.0").await;
    let old = release(&app, "1.9.3").await;
    let newer = release(&app, "2.1").await;

    let r = assign(&app, "dev1", json!({"id": old})).await;
    assert_eq!(r.status(), 409);
    let msg = r.json::<Value>().await.unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.contains("1.9.3") && msg.contains("2.0.0") && msg.contains("\"downgrade\": true"),
        "{msg}"
    );
    let r = app
        .mgmt(
            Method::POST,
            &format!("/distributionsets/{old}/assignedTargets"),
        )
        .json(&json!([{"id": "dev1"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    // Nothing was assigned: the device is not offered the old bundle.
    assert!(app
        .store
        .actions_of_target(target.target_id)
        .await
        .unwrap()
        .is_empty());
    let base = app.poll_ok("dev1", &token).await;
    assert!(base["_links"].get("deploymentBase").is_none(), "{base}");

    // Upgrades need no flag.
    let r = assign(&app, "dev1", json!({"id": newer})).await;
    assert_eq!(r.status(), 200);
    // An explicit downgrade is assigned and offered.
    let r = app
        .mgmt(
            Method::POST,
            &format!("/distributionsets/{old}/assignedTargets"),
        )
        .json(&json!([{"id": "dev1", "downgrade": true}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["assigned"], 1);
    let active = app.store.active_actions(target.target_id).await.unwrap();
    let running: Vec<_> = active
        .iter()
        .filter(|a| a.state == hawkbit_compat_server::store::ActionState::Running)
        .collect();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].distribution_set_id, old);

    // A device that reported no version is not blocked.
    let (_, _) = app.create_target("dev2").await;
    assert_eq!(assign(&app, "dev2", json!({"id": old})).await.status(), 200);
}
