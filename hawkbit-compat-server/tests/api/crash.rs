//! Crash safety of uploads: the server is killed with SIGKILL in the middle of a large
//! upload and restarted on the same data directory.

use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::helpers::ADMIN_PASSWORD;
use crate::process::ServerProcess;

const CHUNK: usize = 256 * 1024;
/// Announced size of the upload: far more than is sent before the kill.
const TOTAL_CHUNKS: usize = 1024; // 256 MiB

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn sigkill_mid_upload_leaves_nothing_listed_served_or_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = ServerProcess::start(&data, &[]).await;
    let client = reqwest::Client::new();
    let mgmt = |base: &str, path: &str| {
        client
            .get(format!("{base}/rest/v1{path}"))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
    };
    let r = client
        .post(format!("{}/rest/v1/softwaremodules", server.base))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&json!([{"name": "big", "version": "1", "type": "os"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let module = r.json::<Value>().await.unwrap()[0]["id"].as_i64().unwrap();

    // A body that produces 256 MiB slowly: fast enough to get going, never finishing before
    // the kill.
    let body = futures_util::stream::unfold(0usize, |n| async move {
        if n == TOTAL_CHUNKS {
            return None;
        }
        if n > 16 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some((Ok::<_, std::io::Error>(vec![0x5a_u8; CHUNK]), n + 1))
    });
    let part = Part::stream_with_length(
        reqwest::Body::wrap_stream(body),
        (CHUNK * TOTAL_CHUNKS) as u64,
    )
    .file_name("big.raw");
    let form = Form::new().part("file", part);
    let upload = client
        .post(format!(
            "{}/rest/v1/softwaremodules/{module}/artifacts",
            server.base
        ))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .multipart(form)
        .send();
    let upload = tokio::spawn(upload);

    // Wait until the server has written a good part of it to its temp file.
    let tmp = data.join("artifacts/tmp");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let written: u64 = files_under(&tmp)
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        if written >= 4 * 1024 * 1024 {
            break;
        }
        assert!(Instant::now() < deadline, "upload did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    assert!(
        upload.await.unwrap().is_err(),
        "the upload cannot have succeeded"
    );
    assert!(
        !files_under(&tmp).is_empty(),
        "the killed server left its partial temp file (the case under test)"
    );

    let server = ServerProcess::start(&data, &[]).await;
    // Nothing listed...
    let list: Value = mgmt(
        &server.base,
        &format!("/softwaremodules/{module}/artifacts"),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(list, json!([]));
    // ...nothing stored under a final name, and the temp leftovers are gone.
    assert!(files_under(&data.join("artifacts/objects")).is_empty());
    assert!(files_under(&tmp).is_empty(), "{:?}", files_under(&tmp));
    // ...and nothing can be served: a device assigned this module finds no artifact.
    let r = client
        .post(format!("{}/rest/v1/targets", server.base))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&json!([{"controllerId": "dev1", "securityToken": "dev1-token-0123456789"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = client
        .post(format!("{}/rest/v1/distributionsets", server.base))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&json!([{"name": "rel", "version": "1", "modules": [{"id": module}]}]))
        .send()
        .await
        .unwrap();
    let ds = r.json::<Value>().await.unwrap()[0]["id"].as_i64().unwrap();
    let r = client
        .post(format!("{}/rest/v1/targets/dev1/assignedDS", server.base))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&json!({"id": ds}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ddi = |path: String| {
        client
            .get(format!("{}/DEFAULT/controller/v1/dev1{path}", server.base))
            .header("Authorization", "TargetToken dev1-token-0123456789")
            .send()
    };
    let listing: Value = ddi(format!("/softwaremodules/{module}/artifacts"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listing, json!([]));
    assert_eq!(
        ddi(format!("/softwaremodules/{module}/artifacts/big.raw"))
            .await
            .unwrap()
            .status(),
        404
    );
    // The same file uploads fine afterwards.
    let form = Form::new().part(
        "file",
        Part::bytes(vec![0x5a_u8; 3 * CHUNK]).file_name("big.raw"),
    );
    let r = client
        .post(format!(
            "{}/rest/v1/softwaremodules/{module}/artifacts",
            server.base
        ))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let got = ddi(format!("/softwaremodules/{module}/artifacts/big.raw"))
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().len(), 3 * CHUNK);
}
