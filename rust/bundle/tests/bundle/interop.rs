//! Agreement with the real tools: `rauc` 1.8 reads our bundles and we read
//! its bundles with the same result, and our hash tree is `veritysetup`'s.

use crate::helpers::*;
use ota_bundle::{Bundle, Format, NoProgress};
use ota_testkit::pki::Pki;
use std::path::Path;
use std::process::Command;

const EXTRA: &str = "hooks=post-install;\n\n[image.appfs.rev2]\nfilename=app.img\nadaptive=block-hash-index;\n\n[hooks]\nfilename=hook.sh\nhooks=install-check;\n";

fn with_extras(format: Format) -> ContentDir {
    let c = content(format, EXTRA);
    c.write("app.img", &image(16 * 4096, 99));
    c.write("hook.sh", b"#!/bin/sh\nexit 0\n");
    c
}

fn rauc_json(conf: &Path, bundle: &Path) -> serde_json::Value {
    let out = run_ok(
        Command::new("rauc")
            .arg(format!("--conf={}", conf.display()))
            .args(["info", "--output-format=json"])
            .arg(bundle),
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("rauc info JSON: {e}: {out}"))
}

/// The fields `rauc info --output-format=json` reports, built from our info.
fn our_json(info: &ota_bundle::BundleInfo) -> serde_json::Value {
    let m = &info.manifest;
    serde_json::json!({
        "compatible": m.update.compatible,
        "version": m.update.version,
        "description": m.update.description,
        "build": m.update.build,
        "hooks": m.hooks.as_ref().map(|h| h.hooks.clone()).unwrap_or_default(),
        "images": m.images.iter().map(|i| serde_json::json!({ i.slotclass.clone(): {
            "variant": i.variant, "filename": i.filename, "checksum": i.sha256, "size": i.size,
            "hooks": i.hooks, "adaptive": i.adaptive,
        }})).collect::<Vec<_>>(),
    })
}

fn rauc_accepts_ours(format: Format, ec: bool) {
    let pki = Pki::new();
    let c = with_extras(format);
    let out = tmp();
    let bundle = out.path().join("ours.raucb");
    build(
        &c,
        &bundle,
        &signer(if ec { &pki.ec_signer } else { &pki.signer }, &pki),
    );
    let conf = rauc_conf(out.path(), pki.keyring(), Some("codesign"));
    let theirs = rauc_json(&conf, &bundle);
    let ours = verify(&bundle, &opts(&pki)).unwrap();
    assert_eq!(theirs, our_json(&ours));

    let dest = out.path().join("extracted");
    run_ok(
        Command::new("rauc")
            .arg(format!("--conf={}", conf.display()))
            .arg("extract")
            .arg(&bundle)
            .arg(&dest),
    );
    assert_eq!(
        std::fs::read(dest.join("rootfs.img")).unwrap(),
        image(1 << 20, 7)
    );
    assert!(dest.join("app.img.block-hash-index").exists());
}

#[test]
fn rauc_reads_our_plain_bundle() {
    rauc_accepts_ours(Format::Plain, false);
}

#[test]
fn rauc_reads_our_verity_bundle() {
    rauc_accepts_ours(Format::Verity, false);
}

#[test]
fn rauc_reads_our_ec_signed_bundles() {
    rauc_accepts_ours(Format::Plain, true);
    rauc_accepts_ours(Format::Verity, true);
}

#[test]
fn rauc_default_purpose_accepts_a_signer_without_eku() {
    let pki = Pki::new();
    let c = content(Format::Plain, "");
    let out = tmp();
    let bundle = out.path().join("b.raucb");
    let s = ota_bundle::Signer::load(pki.noeku.cert(), pki.noeku.key(), &[]).unwrap();
    build(&c, &bundle, &s);
    run_ok(
        Command::new("rauc")
            .arg(format!("--keyring={}", pki.keyring().display()))
            .arg("info")
            .arg(&bundle),
    );
    let mut o = opts(&pki);
    o.purpose = ota_bundle::Purpose::Default;
    verify(&bundle, &o).unwrap();
}

fn rauc_bundle(c: &ContentDir, out: &Path, pki: &Pki) {
    run_ok(
        Command::new("rauc")
            .arg("bundle")
            .arg(format!("--cert={}", pki.signer.cert()))
            .arg(format!("--key={}", pki.signer.key()))
            .arg(format!("--intermediate={}", pki.inter.cert()))
            .arg(c.path())
            .arg(out),
    );
}

fn we_accept_theirs(format: Format) {
    let pki = Pki::new();
    let c = with_extras(format);
    let out = tmp();
    let bundle = out.path().join("theirs.raucb");
    rauc_bundle(&c, &bundle, &pki);
    let conf = rauc_conf(out.path(), pki.keyring(), Some("codesign"));
    let theirs = rauc_json(&conf, &bundle);
    let info = verify(&bundle, &opts(&pki)).unwrap();
    assert_eq!(info.format, format);
    assert_eq!(our_json(&info), theirs);
    assert_eq!(info.verity_checked, format == Format::Verity);
    let dest = out.path().join("x");
    Bundle::open(&bundle)
        .unwrap()
        .extract(&opts(&pki), &dest, &mut NoProgress)
        .unwrap();
    assert_eq!(
        std::fs::read(dest.join("app.img")).unwrap(),
        image(16 * 4096, 99)
    );
}

#[test]
fn we_read_rauc_plain_bundles() {
    we_accept_theirs(Format::Plain);
}

#[test]
fn we_read_rauc_verity_bundles() {
    we_accept_theirs(Format::Verity);
}

#[test]
fn we_write_the_manifest_rauc_writes() {
    // rauc bundle rewrites the content directory's manifest in place; ours
    // (inside the squashfs) must be byte-identical to that rewrite.
    let pki = Pki::new();
    let c = with_extras(Format::Plain);
    let out = tmp();
    let ours = out.path().join("ours.raucb");
    build(&c, &ours, &signer(&pki.signer, &pki));
    let dest = out.path().join("x");
    Bundle::open(&ours)
        .unwrap()
        .extract(&opts(&pki), &dest, &mut NoProgress)
        .unwrap();
    rauc_bundle(&c, &out.path().join("theirs.raucb"), &pki);
    assert_eq!(
        std::fs::read_to_string(dest.join("manifest.raucm")).unwrap(),
        std::fs::read_to_string(c.path().join("manifest.raucm")).unwrap()
    );
}

#[test]
fn hash_tree_is_byte_identical_to_veritysetup() {
    let pki = Pki::new();
    let c = content(Format::Verity, "");
    // Large enough for a two-level tree (more than 128 data blocks).
    c.write("rootfs.img", &noise(3 << 20, 5));
    let out = tmp();
    let bundle = out.path().join("b.raucb");
    build(&c, &bundle, &signer(&pki.signer, &pki));
    let info = verify(&bundle, &opts(&pki)).unwrap();
    let b = &info.manifest.bundle;
    let data = std::fs::read(&bundle).unwrap();
    let sq = &data[..info.squashfs_size as usize];
    let tree = &data[info.squashfs_size as usize..info.payload_size as usize];
    assert!(tree.len() > 4096, "expected a multi-level tree");
    std::fs::write(out.path().join("data"), sq).unwrap();
    let stdout = run_ok(
        Command::new("veritysetup")
            .args([
                "format",
                "--hash=sha256",
                "--data-block-size=4096",
                "--hash-block-size=4096",
                "--no-superblock",
            ])
            .arg(format!("--salt={}", b.verity_salt.as_ref().unwrap()))
            .arg(out.path().join("data"))
            .arg(out.path().join("tree")),
    );
    let theirs = std::fs::read(out.path().join("tree")).unwrap();
    assert_eq!(theirs, tree, "hash tree differs from veritysetup's");
    let root = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:"))
        .map(str::trim)
        .unwrap();
    assert_eq!(root, b.verity_hash.as_ref().unwrap());
}
