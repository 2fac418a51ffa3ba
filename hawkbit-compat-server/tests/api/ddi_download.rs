//! Artifact listing and download.

use hawkbit_compat_server::store::ActionType;
use reqwest::{Method, StatusCode};

use crate::helpers::{spawn_app, Deployed, TestApp};

const CONTENT: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

async fn setup() -> (TestApp, Deployed, String) {
    let app = spawn_app().await;
    let d = app
        .deploy("dev1", &[("bundle.raucb", CONTENT)], ActionType::Forced)
        .await;
    let url = app.ddi_url(
        "dev1",
        &format!("/softwaremodules/{}/artifacts/bundle.raucb", d.module_id),
    );
    (app, d, url)
}

#[tokio::test]
async fn full_download_has_the_documented_headers() {
    let (app, d, url) = setup().await;
    let r = app.ddi(Method::GET, &url, &d.token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-length"], CONTENT.len().to_string());
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(
        h["content-disposition"],
        "attachment;filename=\"bundle.raucb\""
    );
    assert!(h["last-modified"].to_str().unwrap().ends_with(" GMT"));
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag.len(), 42, "quoted sha1: {etag}");
    assert_eq!(&r.bytes().await.unwrap()[..], CONTENT);
}

#[tokio::test]
async fn head_reports_the_real_size_without_a_body() {
    let (app, d, url) = setup().await;
    let r = app.ddi(Method::HEAD, &url, &d.token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], CONTENT.len().to_string());
    assert!(r.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn single_range_resumes_a_download() {
    let (app, d, url) = setup().await;
    let r = app
        .ddi(Method::GET, &url, &d.token)
        .header("Range", "bytes=30-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 30-35/{}", CONTENT.len())
    );
    assert_eq!(r.headers()["content-length"], "6");
    assert_eq!(&r.bytes().await.unwrap()[..], &CONTENT[30..]);

    let r = app
        .ddi(Method::GET, &url, &d.token)
        .header("Range", "bytes=-4")
        .send()
        .await
        .unwrap();
    assert_eq!(&r.bytes().await.unwrap()[..], b"wxyz");
}

#[tokio::test]
async fn multiple_ranges_come_as_multipart_byteranges() {
    let (app, d, url) = setup().await;
    let r = app
        .ddi(Method::GET, &url, &d.token)
        .header("Range", "bytes=0-1,10-12")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .expect(&ct)
        .to_owned();
    let declared: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap();
    assert_eq!(body.len(), declared);
    let parts: Vec<&str> = body.split(&format!("--{boundary}")).collect();
    assert_eq!(parts.len(), 4, "{body:?}");
    assert!(
        parts[1].contains("Content-Range: bytes 0-1/36\r\n\r\n01\r\n"),
        "{:?}",
        parts[1]
    );
    assert!(
        parts[2].contains("Content-Range: bytes 10-12/36\r\n\r\nabc\r\n"),
        "{:?}",
        parts[2]
    );
    assert_eq!(parts[3], "--\r\n");
}

#[tokio::test]
async fn unsatisfiable_range_is_416_with_the_length() {
    let (app, d, url) = setup().await;
    let r = app
        .ddi(Method::GET, &url, &d.token)
        .header("Range", "bytes=100-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()["content-range"], "bytes */36");
}

#[tokio::test]
async fn if_match_and_if_range_use_the_sha1_etag() {
    let (app, d, url) = setup().await;
    let etag = app
        .ddi(Method::HEAD, &url, &d.token)
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let sha1: String = openssl::sha::sha1(CONTENT)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(etag, format!("\"{sha1}\""), "the ETag is the quoted SHA-1");
    let get = |name: &'static str, value: String| {
        app.ddi(Method::GET, &url, &d.token)
            .header(name, value)
            .send()
    };
    assert_eq!(
        get("If-Match", "\"0000\"".into()).await.unwrap().status(),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(get("If-Match", etag.clone()).await.unwrap().status(), 200);
    assert_eq!(get("If-Match", "*".into()).await.unwrap().status(), 200);

    // If-Range with a stale validator: the whole (changed) file instead of a fragment.
    let stale = app
        .ddi(Method::GET, &url, &d.token)
        .header("Range", "bytes=0-1")
        .header("If-Range", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.bytes().await.unwrap().len(), CONTENT.len());
    let fresh = app
        .ddi(Method::GET, &url, &d.token)
        .header("Range", "bytes=0-1")
        .header("If-Range", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::PARTIAL_CONTENT);
}

#[tokio::test]
async fn md5sum_file_and_listing() {
    let (app, d, url) = setup().await;
    let r = app
        .ddi(Method::GET, &format!("{url}.MD5SUM"), &d.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let md5 = r.text().await.unwrap();
    assert_eq!(md5, format!("{:x}  bundle.raucb\n", Md5Hex(CONTENT)));

    let list_url = app.ddi_url(
        "dev1",
        &format!("/softwaremodules/{}/artifacts", d.module_id),
    );
    let list: ota_ddi::ArtifactList = app
        .ddi(Method::GET, &list_url, &d.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].size, CONTENT.len() as u64);
    assert_eq!(list[0].links.download_http.as_ref().unwrap().href, url);

    let missing = app.ddi_url(
        "dev1",
        &format!("/softwaremodules/{}/artifacts/nope.bin", d.module_id),
    );
    assert_eq!(
        app.ddi(Method::GET, &missing, &d.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.ddi(Method::GET, &format!("{missing}.MD5SUM"), &d.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

/// Computes MD5 with the system's `md5sum`-compatible algorithm via OpenSSL's CLI-free API:
/// the server's value must match an independent computation, not itself.
struct Md5Hex(&'static [u8]);

impl std::fmt::LowerHex for Md5Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digest = openssl::hash::hash(openssl::hash::MessageDigest::md5(), self.0).unwrap();
        for b in digest.iter() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A server-side failure (here: the stored file vanished) is an opaque 500; the client learns
/// nothing about paths or causes.
#[tokio::test]
async fn internal_failures_do_not_leak_details() {
    let (app, d, url) = setup().await;
    let sha256: String = openssl::sha::sha256(CONTENT)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::remove_file(app.artifacts.path_of(&sha256).unwrap()).unwrap();
    let r = app.ddi(Method::GET, &url, &d.token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = r.text().await.unwrap();
    assert_eq!(
        body,
        r#"{"errorCode":"internal","message":"internal server error"}"#
    );
}

/// Whole-file downloads are noted in the action's history; range requests are not.
#[tokio::test]
async fn whole_downloads_are_recorded_ranges_are_not() {
    let (app, d, url) = setup().await;
    let count = || app.store.action_status_count(d.action_id);
    let before = count().await.unwrap();
    for _ in 0..3 {
        let r = app
            .ddi(Method::GET, &url, &d.token)
            .header("Range", "bytes=0-9")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    }
    app.ddi(Method::HEAD, &url, &d.token).send().await.unwrap();
    assert_eq!(count().await.unwrap(), before);
    app.ddi(Method::GET, &url, &d.token).send().await.unwrap();
    assert_eq!(count().await.unwrap(), before + 1);
    let latest = &app.store.action_history(d.action_id, 1).await.unwrap()[0];
    assert_eq!(
        latest.messages,
        ["Update Server: target downloads bundle.raucb"]
    );
}
