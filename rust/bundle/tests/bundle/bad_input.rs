//! Every kind of bad input is refused with an error that names the problem,
//! and nothing is left half-written.

use crate::helpers::*;
use ota_bundle::{
    squashfs, Bundle, CheckTime, Error, Format, Keyring, NoProgress, Purpose, Signer,
};
use ota_testkit::pki::Pki;
use std::path::{Path, PathBuf};

fn made(format: Format) -> (Pki, tempfile::TempDir, PathBuf) {
    let pki = Pki::new();
    let c = content(format, "");
    let out = tmp();
    let path = out.path().join("b.raucb");
    build(&c, &path, &signer(&pki.signer, &pki));
    (pki, out, path)
}

fn err_text(r: ota_bundle::Result<impl std::fmt::Debug>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

fn open_err(path: &Path) -> String {
    match Bundle::open(path) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e.to_string(),
    }
}

fn set_trailer(path: &Path, value: u64) {
    let mut data = std::fs::read(path).unwrap();
    let n = data.len();
    data[n - 8..].copy_from_slice(&value.to_be_bytes());
    std::fs::write(path, data).unwrap();
}

#[test]
fn truncated_file() {
    let (_pki, _d, path) = made(Format::Plain);
    let data = std::fs::read(&path).unwrap();
    std::fs::write(&path, &data[..data.len() / 2]).unwrap();
    let e = open_err(&path);
    assert!(
        e.contains("not a valid bundle") && e.contains("signature size"),
        "{e}"
    );
    std::fs::write(&path, &data[..5]).unwrap();
    assert!(open_err(&path).contains("too short"));
}

#[test]
fn zero_and_oversized_signature_length() {
    let (_pki, _d, path) = made(Format::Plain);
    set_trailer(&path, 0);
    assert!(open_err(&path).contains("signature size is 0"));
    set_trailer(&path, 70_000);
    assert!(open_err(&path).contains("exceeds 64 KiB"));
    set_trailer(&path, u64::MAX);
    assert!(open_err(&path).contains("exceeds the file"));
}

fn flip(path: &Path, offset: usize) {
    let mut data = std::fs::read(path).unwrap();
    data[offset] ^= 0x40;
    std::fs::write(path, data).unwrap();
}

#[test]
fn tampered_payload_byte_plain() {
    let (pki, _d, path) = made(Format::Plain);
    flip(&path, 70_000);
    let e = err_text(verify(&path, &opts(&pki)));
    assert!(e.contains("payload does not match the signature"), "{e}");
}

#[test]
fn tampered_payload_byte_verity() {
    let (pki, _d, path) = made(Format::Verity);
    flip(&path, 3 * 4096 + 5);
    // Like `rauc info`, inspecting a verity bundle checks only the signed
    // manifest; verifying checks every block.
    Bundle::open(&path)
        .unwrap()
        .inspect(Some(&opts(&pki)), &mut NoProgress)
        .unwrap();
    let e = err_text(verify(&path, &opts(&pki)));
    assert!(
        e.contains("payload is corrupted") && e.contains("position 12288"),
        "{e}"
    );
}

#[test]
fn tampered_manifest() {
    // Plain: the manifest is inside the signed payload.
    let (pki, _d, path) = made(Format::Plain);
    let data = std::fs::read(&path).unwrap();
    let b = Bundle::open(&path).unwrap();
    let sq = squashfs::Image::open(&path, b.payload_size()).unwrap();
    assert!(sq.read_file("manifest.raucm", 4096).is_ok());
    // Flip the last non-zero byte of the squashfs: the tables and the
    // fragment holding the manifest are at its end.
    let last = data[..b.payload_size() as usize]
        .iter()
        .rposition(|&x| x != 0)
        .unwrap();
    flip(&path, last);
    let e = err_text(verify(&path, &opts(&pki)));
    assert!(e.contains("signature"), "{e}");

    // Verity: the manifest is the signed content of the CMS.
    let (pki, _d, path) = made(Format::Verity);
    let mut data = std::fs::read(&path).unwrap();
    let pos = data
        .windows(12)
        .rposition(|w| w == b"version=2.0.")
        .unwrap();
    data[pos + 8] = b'9';
    std::fs::write(&path, data).unwrap();
    let e = err_text(
        Bundle::open(&path).and_then(|mut b| b.inspect(Some(&opts(&pki)), &mut NoProgress)),
    );
    assert!(e.contains("signature verification failed"), "{e}");
}

#[test]
fn wrong_keyring() {
    let (pki, _d, path) = made(Format::Verity);
    let mut o = opts(&pki);
    o.keyring = Keyring::load(&pki.other_root.cert_path).unwrap();
    let e = err_text(verify(&path, &o));
    assert!(e.contains("unable to get local issuer certificate"), "{e}");
    let e = Keyring::load(&pki.path("missing.pem"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.pem"), "{e}");
    let e = Keyring::load(&pki.signer.key_path).unwrap_err().to_string();
    assert!(e.contains("keyring"), "{e}");
}

fn signed_by(
    id: &ota_testkit::pki::Identity,
    pki: &Pki,
    format: Format,
    with_inter: bool,
) -> (tempfile::TempDir, PathBuf) {
    let inter = if with_inter {
        vec![pki.inter.cert_path.clone()]
    } else {
        vec![]
    };
    let s = Signer::load(id.cert(), id.key(), &inter).unwrap();
    let c = content(format, "");
    let out = tmp();
    let path = out.path().join("b.raucb");
    build(&c, &path, &s);
    (out, path)
}

#[test]
fn expired_and_not_yet_valid_signers() {
    let pki = Pki::new();
    let (_d, path) = signed_by(&pki.expired, &pki, Format::Plain, true);
    let e = err_text(verify(&path, &opts(&pki)));
    assert!(e.contains("certificate has expired"), "{e}");
    // The signing time is inside the signer's (past) validity neither.
    let mut o = opts(&pki);
    o.check_time = CheckTime::SigningTime;
    assert!(err_text(verify(&path, &o)).contains("expired"));
    o.check_time = CheckTime::Never;
    verify(&path, &o).unwrap();

    let (_d, path) = signed_by(&pki.future, &pki, Format::Verity, true);
    let e = err_text(verify(&path, &opts(&pki)));
    assert!(e.contains("certificate is not yet valid"), "{e}");
}

#[test]
fn missing_intermediate() {
    let pki = Pki::new();
    let (_d, path) = signed_by(&pki.signer, &pki, Format::Plain, false);
    let e = err_text(verify(&path, &opts(&pki)));
    assert!(e.contains("unable to get local issuer certificate"), "{e}");
    // A keyring holding root and intermediate fills the gap, as with RAUC.
    let both = pki.path("both.pem");
    let mut pem = std::fs::read(pki.keyring()).unwrap();
    pem.extend(std::fs::read(&pki.inter.cert_path).unwrap());
    std::fs::write(&both, pem).unwrap();
    let mut o = opts(&pki);
    o.keyring = Keyring::load(&both).unwrap();
    verify(&path, &o).unwrap();
    // Only the intermediate trusted: needs allow-partial-chain.
    o.keyring = Keyring::load(&pki.inter.cert_path).unwrap();
    assert!(err_text(verify(&path, &o)).contains("unable to get"));
    o.allow_partial_chain = true;
    verify(&path, &o).unwrap();
}

#[test]
fn wrong_certificate_purpose() {
    let pki = Pki::new();
    let (_d, path) = signed_by(&pki.server, &pki, Format::Plain, true);
    let e = err_text(verify(&path, &opts(&pki)));
    assert!(e.contains("unsuitable certificate purpose"), "{e}");
    let mut o = opts(&pki);
    o.purpose = Purpose::Any;
    verify(&path, &o).unwrap();

    // A codeSigning signer fails OpenSSL's default (S/MIME) purpose, exactly
    // as it does with RAUC unless check-purpose=codesign.
    let (_d, path) = signed_by(&pki.signer, &pki, Format::Verity, true);
    let mut o = opts(&pki);
    o.purpose = Purpose::Default;
    assert!(err_text(verify(&path, &o)).contains("unsuitable certificate purpose"));
    o.purpose = Purpose::Named("nonsense".into());
    assert!(err_text(verify(&path, &o)).contains("unknown certificate purpose"));
}

#[test]
fn unknown_manifest_key_and_bad_content() {
    let pki = Pki::new();
    let s = signer(&pki.signer, &pki);
    let c = content(Format::Plain, "colour=blue\n");
    let out = tmp();
    let e = ota_bundle::Content::from_dir(c.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown key \"colour\" in group [image.rootfs]"),
        "{e}"
    );

    let c = content(Format::Plain, "\n[image.appfs]\nfilename=missing.img\n");
    let content = ota_bundle::Content::from_dir(c.path()).unwrap();
    let e = err_text(ota_bundle::create(
        &content,
        &out.path().join("b.raucb"),
        &ota_bundle::CreateOptions {
            signer: &s,
            format: None,
            squashfs: Default::default(),
            verify: None,
        },
        &mut NoProgress,
    ));
    assert!(e.contains("missing.img"), "{e}");
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn image_size_or_hash_mismatch_on_create() {
    let pki = Pki::new();
    let s = signer(&pki.signer, &pki);
    let out = tmp();
    for (extra, what) in [
        ("size=12\n", "size mismatch"),
        (
            "sha256=0000000000000000000000000000000000000000000000000000000000000000\n",
            "sha256 mismatch",
        ),
    ] {
        let c = content(Format::Plain, extra);
        let content = ota_bundle::Content::from_dir(c.path()).unwrap();
        let e = err_text(ota_bundle::create(
            &content,
            &out.path().join("b.raucb"),
            &ota_bundle::CreateOptions {
                signer: &s,
                format: None,
                squashfs: Default::default(),
                verify: None,
            },
            &mut NoProgress,
        ));
        assert!(e.contains(what) && e.contains("rootfs.img"), "{e}");
        assert_eq!(
            std::fs::read_dir(out.path()).unwrap().count(),
            0,
            "partial output left behind"
        );
    }
}

#[test]
fn image_hash_mismatch_inside_a_signed_bundle() {
    // A correctly signed bundle whose manifest lies about its image.
    let pki = Pki::new();
    let s = signer(&pki.signer, &pki);
    let out = tmp();
    let path = out.path().join("liar.raucb");
    let mut w = squashfs::Writer::create(&path, &Default::default()).unwrap();
    w.add_file("rootfs.img", &mut &image(1 << 20, 7)[..], 0o644)
        .unwrap();
    let manifest = format!(
        "[update]\ncompatible={COMPATIBLE}\n\n[image.rootfs]\nsha256={}\nsize={}\nfilename=rootfs.img\n",
        "ab".repeat(32),
        1 << 20
    );
    w.add_file("manifest.raucm", &mut manifest.as_bytes(), 0o644)
        .unwrap();
    let size = w.finish().unwrap();
    let sig = s
        .sign_detached(&mut std::fs::File::open(&path).unwrap(), size, |_| {})
        .unwrap();
    let mut data = std::fs::read(&path).unwrap();
    data.extend_from_slice(&sig);
    data.extend_from_slice(&(sig.len() as u64).to_be_bytes());
    std::fs::write(&path, data).unwrap();

    Bundle::open(&path)
        .unwrap()
        .verify(&opts(&pki), false, &mut NoProgress)
        .unwrap();
    let e = err_text(verify(&path, &opts(&pki)));
    assert!(
        e.contains("[image.rootfs] rootfs.img: sha256 mismatch"),
        "{e}"
    );
    let dest = out.path().join("x");
    let e = err_text(
        Bundle::open(&path)
            .unwrap()
            .extract(&opts(&pki), &dest, &mut NoProgress),
    );
    assert!(e.contains("sha256 mismatch"), "{e}");
    assert!(!dest.exists(), "nothing extracted");
}

#[test]
fn output_that_already_exists_is_not_overwritten() {
    let pki = Pki::new();
    let c = content(Format::Plain, "");
    let out = tmp();
    let path = out.path().join("b.raucb");
    std::fs::write(&path, b"precious").unwrap();
    let s = signer(&pki.signer, &pki);
    let content = ota_bundle::Content::from_dir(c.path()).unwrap();
    let e = ota_bundle::create(
        &content,
        &path,
        &ota_bundle::CreateOptions {
            signer: &s,
            format: None,
            squashfs: Default::default(),
            verify: None,
        },
        &mut NoProgress,
    )
    .unwrap_err();
    assert!(matches!(e, Error::OutputExists(_)), "{e}");
    assert!(e.to_string().contains("already exists"));
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn disk_full_leaves_no_partial_output() {
    // A real full filesystem: a 1 MiB tmpfs (the tests run as root in CI).
    let pki = Pki::new();
    let c = content(Format::Plain, "");
    c.write("rootfs.img", &noise(4 << 20, 11));
    let mnt = tmp();
    run_ok(
        std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(mnt.path()),
    );
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(mnt.path());
    let s = signer(&pki.signer, &pki);
    let content = ota_bundle::Content::from_dir(c.path()).unwrap();
    let e = ota_bundle::create(
        &content,
        &mnt.path().join("b.raucb"),
        &ota_bundle::CreateOptions {
            signer: &s,
            format: None,
            squashfs: Default::default(),
            verify: None,
        },
        &mut NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("No space left on device"), "{e}");
    let left: Vec<_> = std::fs::read_dir(mnt.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
