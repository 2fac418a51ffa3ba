//! Bundles made by this crate read back with everything intact.

use crate::helpers::*;
use ota_bundle::{Bundle, Format, NoProgress};
use ota_testkit::pki::Pki;

fn round_trip(format: Format, ec: bool) {
    let pki = Pki::new();
    let c = content(format, "hooks=pre-install;post-install;\n\n[image.firmware.rev2]\nfilename=fw.bin\n\n[hooks]\nfilename=hook.sh\nhooks=install-check;\n");
    c.write("fw.bin", b"firmware for revision 2");
    c.write("hook.sh", b"#!/bin/sh\nexit 0\n");
    let out = tmp();
    let path = out.path().join("b.raucb");
    let s = signer(if ec { &pki.ec_signer } else { &pki.signer }, &pki);
    let written = build(&c, &path, &s);
    let info = verify(&path, &opts(&pki)).unwrap();
    assert_eq!(info.format, format);
    assert_eq!(info.manifest.update.compatible, COMPATIBLE);
    assert_eq!(info.manifest.update.version.as_deref(), Some("2.0.0"));
    assert_eq!(info.manifest.images.len(), 2);
    assert_eq!(info.manifest.images[1].variant.as_deref(), Some("rev2"));
    assert_eq!(info.manifest.images[0].size, Some(1 << 20));
    assert_eq!(info.manifest, written);
    assert!(info.images_checked);
    assert_eq!(info.verity_checked, format == Format::Verity);
    assert!(info.signature.verified);
    assert_eq!(info.signature.chain.len(), 3, "signer, intermediate, root");
    assert!(info.payload_size % 4096 == 0);

    let dest = out.path().join("x");
    Bundle::open(&path)
        .unwrap()
        .extract(&opts(&pki), &dest, &mut NoProgress)
        .unwrap();
    assert_eq!(
        std::fs::read(dest.join("rootfs.img")).unwrap(),
        image(1 << 20, 7)
    );
    assert_eq!(
        std::fs::read(dest.join("fw.bin")).unwrap(),
        b"firmware for revision 2"
    );
    let inner = std::fs::read_to_string(dest.join("manifest.raucm")).unwrap();
    assert!(inner.contains("sha256="), "{inner}");
    assert!(
        !inner.contains("verity-hash"),
        "the squashfs manifest carries no verity keys"
    );
}

#[test]
fn plain_rsa_with_intermediate_variants_and_hooks() {
    round_trip(Format::Plain, false);
}

#[test]
fn verity_ec_with_intermediate_variants_and_hooks() {
    round_trip(Format::Verity, true);
}

#[test]
fn verity_rsa() {
    round_trip(Format::Verity, false);
}

#[test]
fn adaptive_images_get_a_block_hash_index() {
    let pki = Pki::new();
    let c = content(Format::Verity, "adaptive=block-hash-index;\n");
    let out = tmp();
    let path = out.path().join("b.raucb");
    build(&c, &path, &signer(&pki.signer, &pki));
    let dest = out.path().join("x");
    Bundle::open(&path)
        .unwrap()
        .extract(&opts(&pki), &dest, &mut NoProgress)
        .unwrap();
    let index = std::fs::read(dest.join("rootfs.img.block-hash-index")).unwrap();
    let img = image(1 << 20, 7);
    assert_eq!(index.len(), img.len() / 4096 * 32);
    assert_eq!(&index[..32], &openssl::sha::sha256(&img[..4096]));
}

#[test]
fn manifest_values_from_flags_and_image_files() {
    let pki = Pki::new();
    let dir = tmp();
    let img = dir.path().join("root.img");
    std::fs::write(&img, image(64 * 4096, 3)).unwrap();
    let m = ota_bundle::Manifest::parse(
        format!(
            "[update]\ncompatible={COMPATIBLE}\nversion=1.2.3\n[image.rootfs]\nfilename=root.img\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let content = ota_bundle::Content::from_parts(m, vec![("root.img".into(), img)]).unwrap();
    let path = dir.path().join("b.raucb");
    let s = signer(&pki.signer, &pki);
    ota_bundle::create(
        &content,
        &path,
        &ota_bundle::CreateOptions {
            signer: &s,
            format: Some(Format::Verity),
            squashfs: Default::default(),
            verify: Some(opts(&pki)),
        },
        &mut NoProgress,
    )
    .unwrap();
    let info = verify(&path, &opts(&pki)).unwrap();
    assert_eq!(info.format, Format::Verity);
    assert_eq!(info.manifest.update.version.as_deref(), Some("1.2.3"));
}
