//! Bad input, each answered with the right status and a clear message, and nothing stored.
//!
//! Covered elsewhere as well: wrong and missing credentials and other devices' actions on every
//! DDI route (`ddi_auth.rs`), untrusted, tampered and fake RAUC bundles (`bundles.rs`).

use hawkbit_compat_server::store::ActionType;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// Asserts the status and that the JSON error message contains `needle`.
async fn expect(r: Response, status: u16, needle: &str, what: &str) {
    assert_eq!(r.status().as_u16(), status, "{what}");
    let text = r.text().await.unwrap();
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{what}: error body is not JSON: {text}"));
    let msg = body["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(needle),
        "{what}: message {msg:?} lacks {needle:?}"
    );
}

/// What must not change when bad input is refused.
async fn snapshot(app: &TestApp, action_id: i64, module: i64) -> (i64, i64, usize, usize) {
    let (_, targets) = app.store.list_targets(0, 1).await.unwrap();
    let history = app.store.action_status_count(action_id).await.unwrap();
    let artifacts = app.store.artifacts_of_module(module).await.unwrap().len();
    let objects =
        walk(&app.artifacts.root().join("objects")) + walk(&app.artifacts.root().join("tmp"));
    (targets, history, artifacts, objects)
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p)
                } else {
                    1
                }
            })
            .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn bad_ddi_input_is_refused_clearly_and_changes_nothing() {
    let app = spawn_app().await;
    let d = app
        .deploy("dev1", &[("fw.bin", b"firmware")], ActionType::Forced)
        .await;
    let other = app
        .deploy("dev2", &[("other.bin", b"other")], ActionType::Forced)
        .await;
    let before = snapshot(&app, d.action_id, d.module_id).await;
    let feedback = app.ddi_url("dev1", &format!("/deploymentBase/{}/feedback", d.action_id));
    let post_raw = |url: String, token: String, body: Vec<u8>| {
        app.ddi(Method::POST, &url, &token)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };

    // Malformed JSON.
    let r = post_raw(
        feedback.clone(),
        d.token.clone(),
        b"{\"status\": {".to_vec(),
    )
    .await
    .unwrap();
    expect(r, 400, "invalid JSON body", "truncated feedback").await;
    let r = app
        .ddi(Method::PUT, &app.ddi_url("dev1", "/configData"), &d.token)
        .body("[1, 2")
        .send()
        .await
        .unwrap();
    expect(r, 400, "invalid JSON body", "truncated configData").await;

    // A huge body is refused before it is parsed.
    let huge = format!(
        "{{\"status\": {{\"execution\": \"proceeding\", \"result\": {{\"finished\": \"none\"}}, \"details\": [\"{}\"]}}}}",
        "x".repeat(hawkbit_compat_server::api::MAX_BODY_SIZE + 1)
    );
    let r = post_raw(feedback.clone(), d.token.clone(), huge.into_bytes())
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("length limit exceeded"));

    // Unknown controller and wrong token: 401 with the challenge.
    let r = app.poll("ghost", &d.token).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "TargetToken");
    expect(r, 401, "authentication required", "unknown controller").await;
    let r = post_raw(feedback.clone(), "wrong-token".into(), b"{}".to_vec())
        .await
        .unwrap();
    expect(r, 401, "authentication required", "wrong token").await;

    // Another device's action id: indistinguishable from a missing one.
    let foreign = app.ddi_url(
        "dev1",
        &format!("/deploymentBase/{}/feedback", other.action_id),
    );
    let closed = json!({"status": {"execution": "closed", "result": {"finished": "success"}}});
    let r = app.post_json(&foreign, &d.token, &closed).await;
    expect(r, 404, "not found", "foreign action").await;
    assert!(
        app.store
            .action(other.action_id)
            .await
            .unwrap()
            .unwrap()
            .active
    );

    // Path traversal in a download name goes nowhere.
    for name in [
        "..%2F..%2Fserver.db",
        "%2E%2E",
        "..%5Cserver.db",
        "fw.bin%00.txt",
    ] {
        let url = app.ddi_url(
            "dev1",
            &format!("/softwaremodules/{}/artifacts/{name}", d.module_id),
        );
        let r = app.ddi(Method::GET, &url, &d.token).send().await.unwrap();
        assert_eq!(r.status(), 404, "{name}");
    }

    assert_eq!(snapshot(&app, d.action_id, d.module_id).await, before);

    // Feedback on a closed action: 410 with a message, and the history stays as it was.
    assert_eq!(
        app.post_json(&feedback, &d.token, &closed).await.status(),
        200
    );
    let after_close = app.store.action_status_count(d.action_id).await.unwrap();
    let r = app.post_json(&feedback, &d.token, &closed).await;
    expect(r, 410, "no longer active", "feedback on closed action").await;
    assert_eq!(
        app.store.action_status_count(d.action_id).await.unwrap(),
        after_close
    );
}

async fn upload(app: &TestApp, module: i64, form: Form) -> Response {
    app.mgmt(
        Method::POST,
        &format!("/softwaremodules/{module}/artifacts"),
    )
    .multipart(form)
    .send()
    .await
    .unwrap()
}

fn file(name: &str, content: &[u8]) -> Form {
    Form::new().part(
        "file",
        Part::bytes(content.to_vec()).file_name(name.to_owned()),
    )
}

#[tokio::test]
async fn bad_management_input_is_refused_clearly_and_changes_nothing() {
    let app = spawn_app().await;
    let d = app
        .deploy("dev1", &[("fw.bin", b"firmware")], ActionType::Forced)
        .await;
    let before = snapshot(&app, d.action_id, d.module_id).await;
    let post = |path: &str, body: &'static str| {
        app.mgmt(Method::POST, path)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let r = post("/targets", "[{\"controllerId\": \"x\"").await.unwrap();
    expect(r, 400, "invalid JSON body", "truncated target list").await;
    let r = post("/targets", "{\"controllerId\": \"x\"}").await.unwrap();
    expect(r, 400, "invalid JSON body", "object instead of array").await;
    let huge = app
        .mgmt(Method::POST, "/targets")
        .body(vec![b' '; hawkbit_compat_server::api::MAX_BODY_SIZE + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);

    // Duplicate controller id, also within one request: nothing of that request is kept twice.
    let r = post("/targets", "[{\"controllerId\": \"dev1\"}]")
        .await
        .unwrap();
    expect(
        r,
        409,
        "target dev1 already exists",
        "duplicate controller id",
    )
    .await;

    let m = d.module_id;
    // Expected hashes that do not match.
    for field in ["md5sum", "sha1sum", "sha256sum"] {
        let form = file("new.bin", b"payload").text(field, "00".repeat(16));
        expect(
            upload(&app, m, form).await,
            400,
            &format!("{field} does not match"),
            field,
        )
        .await;
    }
    // Path traversal and other unusable names, in the part name and in the filename field.
    for name in ["../escape.bin", "..", "a/b.bin", "a\\b.bin", "x\u{1}y"] {
        // (A control character cannot travel in a part header; the field carries it.)
        if !name.contains('\u{1}') {
            expect(
                upload(&app, m, file(name, b"p")).await,
                400,
                "invalid file name",
                name,
            )
            .await;
        }
        let form = file("ok.bin", b"p").text("filename", name.to_owned());
        expect(upload(&app, m, form).await, 400, "invalid file name", name).await;
    }
    // A "bundle" that is not signed (no keyring in this server, and not a bundle anyway).
    expect(
        upload(&app, m, file("update.raucb", b"not a bundle at all")).await,
        422,
        "not accepted as a signed RAUC bundle",
        "unsigned bundle",
    )
    .await;
    // Malformed multipart.
    let r = app
        .mgmt(Method::POST, &format!("/softwaremodules/{m}/artifacts"))
        .header("Content-Type", "multipart/form-data; boundary=XYZ")
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc")
        .send()
        .await
        .unwrap();
    expect(r, 400, "", "truncated multipart").await;

    assert_eq!(snapshot(&app, d.action_id, d.module_id).await, before);
}
