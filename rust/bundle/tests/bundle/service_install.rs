//! A plain bundle made by this crate is installed by the real `rauc service`
//! into a file-backed slot, and the slot then holds exactly the image.

use crate::helpers::*;
use ota_bundle::Format;
use ota_testkit::pki::Pki;
use ota_testkit::rauc::{RaucConfig, RaucService};

#[test]
fn real_rauc_service_installs_our_plain_bundle_into_a_file_slot() {
    let pki = Pki::new();
    let c = content(Format::Plain, "");
    let w = tmp();
    let bundle = w.path().join("update.raucb");
    build(&c, &bundle, &signer(&pki.signer, &pki));
    let svc = RaucService::start(
        w.path(),
        RaucConfig {
            compatible: COMPATIBLE.into(),
            keyring: pki.keyring().to_path_buf(),
            slot_size: 2 << 20,
            booted: "system0".into(),
        },
    );
    let out = run(svc.client().arg("install").arg(&bundle));
    assert!(
        out.status.success(),
        "rauc install failed: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        svc.log()
    );
    let slot = std::fs::read(svc.slot(1)).unwrap();
    let img = image(1 << 20, 7);
    assert_eq!(&slot[..img.len()], &img[..], "slot B holds the image");
    assert_eq!(
        std::fs::read(svc.slot(0)).unwrap(),
        vec![0xaa; 2 << 20],
        "slot A untouched"
    );
    assert!(
        svc.bootstate().contains("PRIMARY=system1"),
        "{}",
        svc.bootstate()
    );
    let status = run_ok(
        svc.client()
            .args(["status", "--detailed", "--output-format=json"]),
    );
    assert!(
        status.contains("\"compatible\":\"Test Device\",\"version\":\"2.0.0\""),
        "{status}"
    );
}
