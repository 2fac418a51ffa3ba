//! Re-signing, detached signature exchange for signing elsewhere, and keys
//! on a PKCS#11 token.

use crate::helpers::*;
use ota_bundle::{Bundle, Format, NoProgress, Signer};
use ota_testkit::pki::Pki;
use std::process::Command;

fn resign_to_release(format: Format) {
    let pki = Pki::new();
    let c = content(format, "");
    let out = tmp();
    let dev = out.path().join("dev.raucb");
    build(&c, &dev, &signer(&pki.signer, &pki));
    let release = out.path().join("release.raucb");
    let rel = signer(&pki.release, &pki);
    ota_bundle::resign(
        &mut Bundle::open(&dev).unwrap(),
        Some(&opts(&pki)),
        &rel,
        &release,
        &mut NoProgress,
    )
    .unwrap();
    let info = verify(&release, &opts(&pki)).unwrap();
    assert!(info.signature.chain[0]
        .subject
        .contains("Test Release Signer"));
    // Same payload, only the signature changed.
    let a = Bundle::open(&dev).unwrap();
    let b = Bundle::open(&release).unwrap();
    assert_eq!(a.payload_size(), b.payload_size());
    let (da, db) = (
        std::fs::read(&dev).unwrap(),
        std::fs::read(&release).unwrap(),
    );
    assert_eq!(
        da[..a.payload_size() as usize],
        db[..b.payload_size() as usize]
    );
    // RAUC agrees.
    let conf = rauc_conf(out.path(), pki.keyring(), Some("codesign"));
    run_ok(
        Command::new("rauc")
            .arg(format!("--conf={}", conf.display()))
            .arg("info")
            .arg(&release),
    );
}

#[test]
fn resign_plain_and_verity() {
    resign_to_release(Format::Plain);
    resign_to_release(Format::Verity);
}

#[test]
fn resign_refuses_an_untrusted_original_unless_told() {
    let pki = Pki::new();
    let c = content(Format::Plain, "");
    let out = tmp();
    let dev = out.path().join("dev.raucb");
    build(&c, &dev, &signer(&pki.signer, &pki));
    let mut other = opts(&pki);
    other.keyring = ota_bundle::Keyring::load(&pki.other_root.cert_path).unwrap();
    let rel = signer(&pki.release, &pki);
    let target = out.path().join("r.raucb");
    assert!(ota_bundle::resign(
        &mut Bundle::open(&dev).unwrap(),
        Some(&other),
        &rel,
        &target,
        &mut NoProgress
    )
    .is_err());
    assert!(!target.exists());
    ota_bundle::resign(
        &mut Bundle::open(&dev).unwrap(),
        None,
        &rel,
        &target,
        &mut NoProgress,
    )
    .unwrap();
    verify(&target, &opts(&pki)).unwrap();
}

#[test]
fn signature_made_elsewhere_replaces_the_old_one() {
    let pki = Pki::new();
    for format in [Format::Plain, Format::Verity] {
        let c = content(format, "");
        let out = tmp();
        let dev = out.path().join("dev.raucb");
        build(&c, &dev, &signer(&pki.signer, &pki));
        let b = Bundle::open(&dev).unwrap();
        let old_sig = out.path().join("old.sig");
        std::fs::write(&old_sig, b.signature_der()).unwrap();
        // "Elsewhere": the openssl command line signs what we extracted.
        let new_sig = out.path().join("new.sig");
        let mut cmd = Command::new("openssl");
        cmd.args([
            "cms",
            "-sign",
            "-binary",
            "-nosmimecap",
            "-md",
            "sha256",
            "-outform",
            "DER",
        ])
        .arg("-signer")
        .arg(pki.release.cert())
        .arg("-inkey")
        .arg(pki.release.key())
        .arg("-certfile")
        .arg(pki.inter.cert())
        .arg("-out")
        .arg(&new_sig);
        if format == Format::Plain {
            let payload = out.path().join("payload");
            std::fs::write(
                &payload,
                &std::fs::read(&dev).unwrap()[..b.payload_size() as usize],
            )
            .unwrap();
            cmd.arg("-in").arg(&payload);
        } else {
            let mut s = ota_bundle::signature::Signature::from_der(b.signature_der()).unwrap();
            let manifest = out.path().join("signed.raucm");
            std::fs::write(&manifest, s.unverified_content().unwrap()).unwrap();
            cmd.arg("-nodetach").arg("-in").arg(&manifest);
        }
        run_ok(&mut cmd);
        let target = out.path().join("release.raucb");
        let new = std::fs::read(&new_sig).unwrap();
        ota_bundle::replace_signature(
            &mut Bundle::open(&dev).unwrap(),
            &new,
            Some(&opts(&pki)),
            &target,
            &mut NoProgress,
        )
        .unwrap();
        let info = verify(&target, &opts(&pki)).unwrap();
        assert!(info.signature.chain[0].subject.contains("Release"));

        // The wrong kind of signature is refused.
        let old = std::fs::read(&old_sig).unwrap();
        let other_kind = if format == Format::Plain {
            let vc = content(Format::Verity, "");
            let vb = out.path().join("v.raucb");
            build(&vc, &vb, &signer(&pki.signer, &pki));
            Bundle::open(&vb).unwrap().signature_der().to_vec()
        } else {
            let pc = content(Format::Plain, "");
            let pb = out.path().join("p.raucb");
            build(&pc, &pb, &signer(&pki.signer, &pki));
            Bundle::open(&pb).unwrap().signature_der().to_vec()
        };
        assert_ne!(old, other_kind);
        let bad_target = out.path().join("bad.raucb");
        let e = ota_bundle::replace_signature(
            &mut Bundle::open(&dev).unwrap(),
            &other_kind,
            None,
            &bad_target,
            &mut NoProgress,
        )
        .unwrap_err();
        assert!(e.to_string().contains("format mismatch"), "{e}");
        assert!(!bad_target.exists());
    }
}

#[test]
fn signer_key_must_match_certificate() {
    let pki = Pki::new();
    let e = Signer::load(pki.signer.cert(), pki.release.key(), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not belong"), "{e}");
    let e = Signer::load(pki.signer.cert(), "/nonexistent/key.pem", &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/key.pem"), "{e}");
}

/// A key on a SoftHSM token, addressed by a `pkcs11:` URI, signs a bundle
/// that RAUC accepts.
#[test]
fn pkcs11_key_on_softhsm() {
    let pki = Pki::new();
    let dir = tmp();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            tokens.display()
        ),
    )
    .unwrap();
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let module = "/usr/lib/softhsm/libsofthsm2.so";
    run_ok(Command::new("softhsm2-util").args([
        "--init-token",
        "--free",
        "--label",
        "bundle-test",
        "--pin",
        "1234",
        "--so-pin",
        "5678",
    ]));
    let der = dir.path().join("key.der");
    std::fs::write(&der, pki.release.key.private_key_to_der().unwrap()).unwrap();
    run_ok(
        Command::new("pkcs11-tool")
            .args([
                "--module",
                module,
                "--token-label",
                "bundle-test",
                "--login",
                "--pin",
                "1234",
            ])
            .args(["--write-object"])
            .arg(&der)
            .args(["--type", "privkey", "--id", "01", "--label", "release"]),
    );
    std::env::set_var("RAUC_PKCS11_MODULE", module);
    std::env::set_var("RAUC_PKCS11_PIN", "1234");
    let s = Signer::load(
        pki.release.cert(),
        "pkcs11:token=bundle-test;object=release;type=private",
        std::slice::from_ref(&pki.inter.cert_path),
    )
    .unwrap();
    let c = content(Format::Verity, "");
    let path = dir.path().join("hsm.raucb");
    build(&c, &path, &s);
    let info = verify(&path, &opts(&pki)).unwrap();
    assert!(info.signature.chain[0].subject.contains("Release"));
}
