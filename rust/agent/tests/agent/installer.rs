//! The installer module against the real `rauc service` 1.8.

use crate::helpers::*;
use ota_testkit::data::image;
use update_agent::installer::{Error, InstallOptions, Installer};

#[tokio::test]
async fn reads_system_state() {
    let dev = Device::new();
    let rauc = Installer::connect(&dev.bus()).await.unwrap();
    assert_eq!(rauc.compatible().await.unwrap(), COMPATIBLE);
    assert_eq!(rauc.boot_slot().await.unwrap(), "system0");
    assert_eq!(rauc.operation().await.unwrap(), "idle");
    // RAUC 1.8 has neither InspectBundle nor GetArtifactStatus.
    assert!(!rauc.capabilities().inspect_bundle);
    assert!(!rauc.capabilities().install_arg("transaction-id"));
    let slots = rauc.slots().await.unwrap();
    assert_eq!(slots.len(), 2);
    let a = slots.iter().find(|s| s.name == "rootfs.0").unwrap();
    assert_eq!(a.state, "booted");
    assert_eq!(a.bootname.as_deref(), Some("system0"));
}

#[tokio::test]
async fn installs_with_progress_and_marks() {
    let dev = Device::new();
    let bundle = dev.bundle("v2.raucb", "2.0.0", COMPATIBLE, 42);
    let rauc = Installer::connect(&dev.bus()).await.unwrap();
    let mut steps = Vec::new();
    // transaction-id is silently left out for RAUC 1.8, which would reject it.
    let opts = InstallOptions {
        transaction_id: Some("action-17".into()),
        ..Default::default()
    };
    rauc.install(bundle.to_str().unwrap(), &opts, |p| steps.push(p))
        .await
        .unwrap();
    assert!(steps.iter().any(|p| p.percent == 100), "{steps:?}");
    assert!(slot_holds(&dev.rauc.slot(1), &image(1 << 20, 42)));
    assert_eq!(rauc.primary().await.unwrap(), "rootfs.1");
    let b = rauc
        .slots()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == "rootfs.1")
        .unwrap();
    assert_eq!(b.bundle_version.as_deref(), Some("2.0.0"));
    // Back to A, as the agent does after a failed health check.
    assert_eq!(rauc.mark_active("rootfs.0").await.unwrap(), "rootfs.0");
    assert_eq!(rauc.mark_bad("other").await.unwrap(), "rootfs.1");
    assert!(
        dev.rauc.bootstate().contains("STATE_system1=bad"),
        "{}",
        dev.rauc.bootstate()
    );
}

#[tokio::test]
async fn install_failures_carry_rauc_s_reason() {
    let dev = Device::new();
    let rauc = Installer::connect(&dev.bus()).await.unwrap();
    let wrong = dev.bundle("other.raucb", "2.0.0", "Some Other Device", 1);
    let e = rauc
        .install(wrong.to_str().unwrap(), &InstallOptions::default(), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InstallFailed(m) if m.contains("ompatible")),
        "{e}"
    );
    // A bundle signed by an unknown key: RAUC refuses before writing.
    let bad = dev.path("garbage.raucb");
    std::fs::write(&bad, b"not a bundle at all, just bytes").unwrap();
    let e = rauc
        .install(bad.to_str().unwrap(), &InstallOptions::default(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InstallFailed(_)), "{e}");
    assert!(
        slot_holds(&dev.rauc.slot(1), &vec![0u8; 2 << 20]),
        "slot B untouched"
    );
}
