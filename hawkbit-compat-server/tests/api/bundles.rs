//! RAUC bundle uploads are verified with `ota-bundle` before they are stored, so only releases
//! whose bundles chain to the server's keyring can ever be assigned.

use std::path::{Path, PathBuf};

use ota_bundle::{Content, CreateOptions, Format, NoProgress, Signer};
use ota_testkit::pki::{Identity, Pki};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};

const COMPATIBLE: &str = "acme-board-v1";

/// Builds a signed bundle of `format` in `dir`.
fn build_bundle(dir: &Path, pki: &Pki, signer: &Identity, format: Format) -> PathBuf {
    let content = dir.join(format!("content-{format}"));
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(
        content.join("rootfs.img"),
        ota_testkit::data::image(64 * 1024, 3),
    )
    .unwrap();
    let bundle_section = match format {
        Format::Plain => String::new(),
        f => format!("[bundle]\nformat={f}\n\n"),
    };
    std::fs::write(
        content.join("manifest.raucm"),
        format!(
            "[update]\ncompatible={COMPATIBLE}\nversion=2026.11.1\n\n{bundle_section}[image.rootfs]\nfilename=rootfs.img\n"
        ),
    )
    .unwrap();
    let signer = Signer::load(
        signer.cert(),
        signer.key(),
        std::slice::from_ref(&pki.inter.cert_path),
    )
    .unwrap();
    let out = dir.join(format!("update-{format}.raucb"));
    ota_bundle::create(
        &Content::from_dir(&content).unwrap(),
        &out,
        &CreateOptions {
            signer: &signer,
            format: None,
            squashfs: Default::default(),
            verify: None,
        },
        &mut NoProgress,
    )
    .unwrap();
    out
}

async fn app_trusting(pki: &Pki) -> TestApp {
    let keyring = pki.keyring().to_owned();
    spawn_app_with(move |c| {
        c.keyring = Some(keyring);
        c.check_purpose = "codesign".into();
    })
    .await
}

async fn new_module(app: &TestApp) -> i64 {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let r = app
        .mgmt(Method::POST, "/softwaremodules")
        .json(&json!([{"name": format!("rootfs-{n}"), "version": "2026.11.1", "type": "os"}]))
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()[0]["id"].as_i64().unwrap()
}

async fn upload_file(app: &TestApp, module: i64, name: &str, bytes: Vec<u8>) -> reqwest::Response {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()));
    app.mgmt(
        Method::POST,
        &format!("/softwaremodules/{module}/artifacts"),
    )
    .multipart(form)
    .send()
    .await
    .unwrap()
}

fn stored_files(app: &TestApp) -> usize {
    std::fs::read_dir(app.artifacts.root().join("objects"))
        .unwrap()
        .count()
        + std::fs::read_dir(app.artifacts.root().join("tmp"))
            .unwrap()
            .count()
}

#[tokio::test]
async fn verified_bundles_are_accepted_with_their_manifest_facts() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let app = app_trusting(&pki).await;
    for format in [Format::Plain, Format::Verity] {
        let module = new_module(&app).await;
        let path = build_bundle(dir.path(), &pki, &pki.signer, format);
        let r = upload_file(&app, module, "update.raucb", std::fs::read(&path).unwrap()).await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{format}: {}",
            r.text().await.unwrap()
        );
        let art: Value = r.json().await.unwrap();
        assert_eq!(
            art["bundle"],
            json!({"compatible": COMPATIBLE, "version": "2026.11.1"}),
            "{format}"
        );
    }
}

#[tokio::test]
async fn a_renamed_bundle_is_still_verified() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let app = app_trusting(&pki).await;
    let module = new_module(&app).await;
    let path = build_bundle(dir.path(), &pki, &pki.signer, Format::Verity);
    let r = upload_file(&app, module, "firmware.bin", std::fs::read(&path).unwrap()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        r.json::<Value>().await.unwrap()["bundle"]["compatible"],
        COMPATIBLE
    );
}

#[tokio::test]
async fn untrusted_tampered_and_fake_bundles_are_refused_and_not_stored() {
    let pki = Pki::new();
    let other = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let app = app_trusting(&pki).await;
    let module = new_module(&app).await;

    // Signed by a chain the server does not trust.
    let foreign = build_bundle(dir.path(), &other, &other.signer, Format::Verity);
    // Signed with a certificate the server trusts, but for the wrong purpose.
    let wrong_purpose_dir = dir.path().join("wp");
    std::fs::create_dir_all(&wrong_purpose_dir).unwrap();
    let wrong_purpose = build_bundle(&wrong_purpose_dir, &pki, &pki.server, Format::Verity);
    // Trusted, then one payload byte flipped (plain: the signature covers the payload).
    let tampered_dir = dir.path().join("t");
    std::fs::create_dir_all(&tampered_dir).unwrap();
    let mut tampered = std::fs::read(build_bundle(
        &tampered_dir,
        &pki,
        &pki.signer,
        Format::Plain,
    ))
    .unwrap();
    tampered[100] ^= 0x55;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("foreign.raucb", std::fs::read(&foreign).unwrap()),
        (
            "wrong-purpose.raucb",
            std::fs::read(&wrong_purpose).unwrap(),
        ),
        ("tampered.raucb", tampered),
        (
            "fake.raucb",
            b"just some bytes pretending to be a bundle".to_vec(),
        ),
    ];
    for (name, bytes) in cases {
        let r = upload_file(&app, module, name, bytes).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let body: Value = r.json().await.unwrap();
        let msg = body["message"].as_str().unwrap();
        assert!(msg.contains(name), "message names the upload: {msg}");
        assert!(
            !msg.contains("/tmp/upload-") && !msg.contains("artifacts/tmp"),
            "no server paths: {msg}"
        );
    }
    assert_eq!(stored_files(&app), 0);
    let list: Value = app
        .mgmt(Method::GET, &format!("/softwaremodules/{module}/artifacts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn without_a_keyring_bundles_are_refused_but_other_files_accepted() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|_| {}).await;
    let module = new_module(&app).await;
    let path = build_bundle(dir.path(), &pki, &pki.signer, Format::Plain);
    let r = upload_file(&app, module, "update.raucb", std::fs::read(&path).unwrap()).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("no keyring"));
    let r = upload_file(&app, module, "notes.txt", b"release notes".to_vec()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.json::<Value>().await.unwrap().get("bundle").is_none());
}

#[tokio::test]
async fn server_refuses_to_start_with_an_unreadable_keyring() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = hawkbit_compat_server::config::Config::load(Default::default()).unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.data_dir = dir.path().join("data");
    config.database_url = format!("sqlite://{}", dir.path().join("db").display());
    config.keyring = Some(dir.path().join("missing.pem"));
    let err = hawkbit_compat_server::startup::Application::build(config)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            hawkbit_compat_server::startup::StartupError::Keyring(_)
        ),
        "{err:?}"
    );
}
