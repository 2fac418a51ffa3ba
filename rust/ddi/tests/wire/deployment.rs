use ota_ddi::{
    ActionId, Artifact, ArtifactList, DeploymentBase, HandlingType, Link, MaintenanceWindow,
};

use crate::helpers::*;

#[test]
fn golden_deployment_base_from_the_docs() {
    let d: DeploymentBase = assert_round_trip(&fixture("deployment_base.json"));
    assert_eq!(d.id, ActionId(8));
    assert_eq!(d.deployment.download, HandlingType::Forced);
    assert_eq!(d.deployment.update, HandlingType::Forced);
    assert_eq!(
        d.deployment.maintenance_window,
        Some(MaintenanceWindow::Available)
    );
    let chunk = &d.deployment.chunks[0];
    assert_eq!(
        (chunk.part.as_str(), chunk.version.as_str()),
        ("os", "1.0.79")
    );
    assert_eq!(chunk.metadata.as_ref().unwrap()[0].key, "some.key");
    let art = &chunk.artifacts[0];
    assert_eq!(art.size, 13);
    assert!(art.hashes.sha256.is_some());
    assert_eq!(
        art.links.preferred_download(),
        Some(&Link::new(
            "http://host:port/DEFAULT/controller/v1/dev1/softwaremodules/23/artifacts/binary.tgz"
        ))
    );
    assert_eq!(d.action_history.unwrap().messages.len(), 2);
}

#[test]
fn golden_minimal_deployment_omits_optional_keys() {
    let d: DeploymentBase = assert_round_trip(&fixture("deployment_base_minimal.json"));
    assert_eq!(d.deployment.update, HandlingType::Skip);
    assert_eq!(d.deployment.maintenance_window, None);
    assert!(d.action_history.is_none());
    let chunk = &d.deployment.chunks[0];
    assert_eq!(chunk.encrypted, Some(true));
    assert!(chunk.metadata.is_none());
    // `download` (https) is preferred over `download-http`.
    assert_eq!(
        chunk.artifacts[0].links.preferred_download().unwrap().href,
        "https://cdn.example/app.raucb"
    );
    let written = serde_json::to_value(&d).unwrap();
    for key in ["maintenanceWindow", "actionHistory"] {
        assert!(written.get("deployment").unwrap().get(key).is_none());
        assert!(written.get(key).is_none());
    }
    assert!(written
        .pointer("/deployment/chunks/0/artifacts/0/hashes/sha256")
        .is_none());
}

#[test]
fn deployment_base_ignores_unknown_fields() {
    assert_ignores_unknown_fields::<DeploymentBase>(
        &fixture("deployment_base.json"),
        &[
            "",
            "/deployment",
            "/deployment/chunks/0",
            "/deployment/chunks/0/metadata/0",
            "/deployment/chunks/0/artifacts/0",
            "/deployment/chunks/0/artifacts/0/hashes",
            "/deployment/chunks/0/artifacts/0/_links",
            "/deployment/chunks/0/artifacts/0/_links/download-http",
            "/actionHistory",
        ],
    );
}

#[test]
fn handling_types_and_windows_are_the_documented_strings() {
    for (s, h) in [
        ("\"skip\"", HandlingType::Skip),
        ("\"attempt\"", HandlingType::Attempt),
        ("\"forced\"", HandlingType::Forced),
    ] {
        assert_eq!(serde_json::from_str::<HandlingType>(s).unwrap(), h);
        assert_eq!(serde_json::to_string(&h).unwrap(), s);
    }
    assert_eq!(
        serde_json::to_string(&MaintenanceWindow::Unavailable).unwrap(),
        "\"unavailable\""
    );
    assert!(serde_json::from_str::<HandlingType>("\"soft\"").is_err());
}

#[test]
fn golden_artifact_listing() {
    let list: ArtifactList = assert_round_trip(&fixture("artifacts.json"));
    assert_eq!(list.len(), 2);
    assert!(list[1].links.preferred_download().is_none());
}

#[test]
fn artifact_listing_ignores_unknown_fields() {
    assert_ignores_unknown_fields::<Vec<Artifact>>(
        &fixture("artifacts.json"),
        &[
            "/0",
            "/0/hashes",
            "/0/_links",
            "/0/_links/md5sum-http",
            "/1",
        ],
    );
}

#[test]
fn action_id_is_a_string_on_the_wire_but_numbers_are_accepted() {
    let d: DeploymentBase = serde_json::from_str(
        r#"{"id":8,"deployment":{"download":"forced","update":"forced","chunks":[]}}"#,
    )
    .unwrap();
    assert_eq!(serde_json::to_value(&d).unwrap()["id"], "8");
}
