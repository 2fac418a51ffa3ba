//! The management API.

use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, ADMIN_PASSWORD};

const READER_PASSWORD: &str = "reader-password-123";

async fn add_reader(app: &TestApp) {
    let r = app
        .mgmt(Method::POST, "/operators")
        .json(&json!({"username": "reader", "password": READER_PASSWORD, "role": "readonly"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

async fn create_module(app: &TestApp, name: &str) -> i64 {
    let r = app
        .mgmt(Method::POST, "/softwaremodules")
        .json(&json!([{"name": name, "version": "1.0", "type": "os", "vendor": "acme"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    body[0]["id"].as_i64().unwrap()
}

fn file_form(name: &str, content: &'static [u8]) -> Form {
    Form::new().part("file", Part::bytes(content).file_name(name.to_owned()))
}

async fn upload(app: &TestApp, module: i64, form: Form) -> reqwest::Response {
    app.mgmt(
        Method::POST,
        &format!("/softwaremodules/{module}/artifacts"),
    )
    .multipart(form)
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn credentials_are_required_and_checked() {
    let app = spawn_app().await;
    let anon = app
        .client
        .get(format!("{}/rest/v1/targets", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    assert!(anon.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic "));
    for (user, pass) in [
        ("admin", "wrong"),
        ("nobody", ADMIN_PASSWORD),
        ("admin", ""),
    ] {
        let r = app
            .mgmt_as(Method::GET, "/targets", user, pass)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{user}/{pass}");
    }
    // A device token is not a management credential.
    let (_, token) = app.create_target("dev1").await;
    let r = app
        .client
        .get(format!("{}/rest/v1/targets", app.base))
        .header("Authorization", format!("TargetToken {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.mgmt(Method::GET, "/targets")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn read_only_operators_can_read_but_not_change_or_see_tokens() {
    let app = spawn_app().await;
    add_reader(&app).await;
    let r = app
        .mgmt(Method::POST, "/targets")
        .json(&json!([{"controllerId": "dev1"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let admin_view: Value = app
        .mgmt(Method::GET, "/targets/dev1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(admin_view["securityToken"].as_str().unwrap().len(), 32);

    let reader = |m: Method, p: &str| app.mgmt_as(m, p, "reader", READER_PASSWORD);
    let view: Value = reader(Method::GET, "/targets/dev1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["controllerId"], "dev1");
    assert!(view.get("securityToken").is_none(), "{view}");
    let list: Value = reader(Method::GET, "/targets")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list["content"][0].get("securityToken").is_none());
    for (m, p) in [
        (Method::POST, "/targets"),
        (Method::DELETE, "/targets/dev1"),
        (Method::POST, "/softwaremodules"),
    ] {
        let r = reader(m.clone(), p).json(&json!([])).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{m} {p}");
    }
    assert_eq!(
        reader(Method::GET, "/operators")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert!(app
        .store
        .target_by_controller_id("dev1")
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn targets_create_list_page_show_delete() {
    let app = spawn_app().await;
    let body = json!([
        {"controllerId": "a1", "name": "First", "securityToken": "0123456789abcdef0123"},
        {"controllerId": "a2"},
        {"controllerId": "a3", "description": "third"}
    ]);
    let r = app
        .mgmt(Method::POST, "/targets")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created[0]["securityToken"], "0123456789abcdef0123");
    assert_eq!(created[1]["name"], "a2");
    // The given token works for the device.
    assert_eq!(app.poll("a1", "0123456789abcdef0123").await.status(), 200);

    let dup = app
        .mgmt(Method::POST, "/targets")
        .json(&json!([{"controllerId": "a1"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    for bad in [
        json!([{"controllerId": ""}]),
        json!([{"controllerId": "a/b"}]),
        json!([{"controllerId": "x", "securityToken": "short"}]),
        json!({"controllerId": "x"}),
    ] {
        let r = app
            .mgmt(Method::POST, "/targets")
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }

    let page: Value = app
        .mgmt(Method::GET, "/targets?offset=1&limit=1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 3);
    assert_eq!(page["size"], 1);
    assert_eq!(page["content"][0]["controllerId"], "a2");
    let all: Value = app
        .mgmt(Method::GET, "/targets")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["size"], 3);

    let one: Value = app
        .mgmt(Method::GET, "/targets/a3")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["description"], "third");
    assert_eq!(one["requestAttributes"], true);
    assert_eq!(
        app.mgmt(Method::GET, "/targets/zz")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    assert_eq!(
        app.mgmt(Method::DELETE, "/targets/a3")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.mgmt(Method::DELETE, "/targets/a3")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn release_flow_upload_assign_download() {
    let app = spawn_app().await;
    app.mgmt(Method::POST, "/targets")
        .json(&json!([{"controllerId": "dev1", "securityToken": "device-one-token-0001"}]))
        .send()
        .await
        .unwrap();
    let module = create_module(&app, "rootfs").await;
    let content: &'static [u8] = b"a root file system image (not a bundle)";
    let sha256 = hex_sha256(content);
    let form = file_form("update.img", content).text("sha256sum", sha256.clone());
    let r = upload(&app, module, form).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let art: Value = r.json().await.unwrap();
    assert_eq!(art["providedFilename"], "update.img");
    assert_eq!(art["size"], content.len());
    assert_eq!(art["hashes"]["sha256"], sha256.as_str());
    // Stored by content, fully written.
    assert_eq!(
        std::fs::read(app.artifacts.path_of(&sha256).unwrap()).unwrap(),
        content
    );

    let meta = json!([{"key": "rauc.compatible", "value": "acme-board", "targetVisible": true}, {"key": "internal", "value": "x"}]);
    let r = app
        .mgmt(Method::POST, &format!("/softwaremodules/{module}/metadata"))
        .json(&meta)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    let r = app
        .mgmt(Method::POST, "/distributionsets")
        .json(&json!([{"name": "release", "version": "2026.11", "modules": [{"id": module}]}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let ds = r.json::<Value>().await.unwrap()[0]["id"].as_i64().unwrap();
    let bad_ds = app
        .mgmt(Method::POST, "/distributionsets")
        .json(&json!([{"name": "x", "version": "1", "modules": [{"id": 9999}]}]))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_ds.status(), StatusCode::BAD_REQUEST);

    // Assigning to an unknown target assigns nothing.
    let r = app
        .mgmt(
            Method::POST,
            &format!("/distributionsets/{ds}/assignedTargets"),
        )
        .json(&json!([{"id": "dev1"}, {"id": "ghost"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.poll_ok("dev1", "device-one-token-0001").await["_links"].get("deploymentBase"),
        None
    );

    let r = app
        .mgmt(
            Method::POST,
            &format!("/distributionsets/{ds}/assignedTargets"),
        )
        .json(&json!([{"id": "dev1", "type": "forced"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let result: Value = r.json().await.unwrap();
    assert_eq!(result["assigned"], 1);
    let action_id = result["assignedActions"][0]["id"].as_i64().unwrap();

    // The device finds, describes and downloads it.
    let base = app.poll_ok("dev1", "device-one-token-0001").await;
    let href = base["_links"]["deploymentBase"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let dep: Value = app
        .ddi(Method::GET, &href, "device-one-token-0001")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dep["id"], action_id.to_string());
    let chunk = &dep["deployment"]["chunks"][0];
    assert_eq!(
        chunk["metadata"],
        json!([{"key": "rauc.compatible", "value": "acme-board"}])
    );
    let dl = chunk["artifacts"][0]["_links"]["download-http"]["href"]
        .as_str()
        .unwrap();
    let bytes = app
        .ddi(Method::GET, dl, "device-one-token-0001")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], content);

    // Operators see the action and its history, and can cancel it.
    let actions: Value = app
        .mgmt(Method::GET, "/targets/dev1/actions")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(actions["content"][0]["status"], "running");
    let r = app
        .mgmt(
            Method::DELETE,
            &format!("/targets/dev1/actions/{action_id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let base = app.poll_ok("dev1", "device-one-token-0001").await;
    assert!(base["_links"]["cancelAction"].is_object());
    let again = app
        .mgmt(
            Method::DELETE,
            &format!("/targets/dev1/actions/{action_id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let status: Value = app
        .mgmt(
            Method::GET,
            &format!("/targets/dev1/actions/{action_id}/status"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["content"][0]["type"], "canceling");
    assert!(status["total"].as_i64().unwrap() >= 3);

    // Assignment through the target resource too; re-sending it changes nothing.
    let r = app
        .mgmt(Method::POST, "/targets/dev1/assignedDS")
        .json(&json!({"id": ds, "type": "soft"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first: Value = r.json().await.unwrap();
    assert_eq!(
        (
            first["assigned"].as_i64(),
            first["alreadyAssigned"].as_i64()
        ),
        (Some(1), Some(0))
    );
    let soft_action = first["assignedActions"][0]["id"].as_i64().unwrap();
    let again: Value = app
        .mgmt(Method::POST, "/targets/dev1/assignedDS")
        .json(&json!({"id": ds, "type": "soft"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        again,
        json!({"assigned": 0, "alreadyAssigned": 1, "total": 1, "assignedActions": []})
    );
    let running = app.store.action(soft_action).await.unwrap().unwrap();
    assert_eq!(
        running.state,
        hawkbit_compat_server::store::ActionState::Running
    );
    let r = app
        .mgmt(Method::POST, "/targets/dev1/assignedDS")
        .json(&json!({"id": ds, "type": "later"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rejected_uploads_leave_nothing_behind() {
    let app = spawn_app().await;
    let module = create_module(&app, "m").await;
    let wrong_sum =
        file_form("a.bin", b"content").text("md5sum", "00000000000000000000000000000000");
    assert_eq!(
        upload(&app, module, wrong_sum).await.status(),
        StatusCode::BAD_REQUEST
    );
    let no_file = Form::new().text("filename", "a.bin");
    assert_eq!(
        upload(&app, module, no_file).await.status(),
        StatusCode::BAD_REQUEST
    );
    let bad_name = file_form("../etc/passwd", b"x");
    assert_eq!(
        upload(&app, module, bad_name).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        upload(&app, 424242, file_form("a.bin", b"x"))
            .await
            .status(),
        404
    );
    let list: Value = app
        .mgmt(Method::GET, &format!("/softwaremodules/{module}/artifacts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
    let count = |sub: &str| {
        std::fs::read_dir(app.artifacts.root().join(sub))
            .unwrap()
            .count()
    };
    assert_eq!(
        (count("tmp"), count("objects")),
        (0, 0),
        "no temp files, no objects"
    );

    // Explicit filename field wins over the part's name; a second file of that name conflicts.
    let form = file_form("ignored.bin", b"v1").text("filename", "fw.bin");
    assert_eq!(
        upload(&app, module, form).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        upload(&app, module, file_form("fw.bin", b"v2"))
            .await
            .status(),
        StatusCode::CONFLICT
    );
    let list: Value = app
        .mgmt(Method::GET, &format!("/softwaremodules/{module}/artifacts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["providedFilename"], "fw.bin");
    assert_eq!(list[0]["size"], 2);
}

#[tokio::test]
async fn operator_accounts() {
    let app = spawn_app().await;
    add_reader(&app).await;
    let dup = app
        .mgmt(Method::POST, "/operators")
        .json(&json!({"username": "reader", "password": READER_PASSWORD, "role": "readonly"}))
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    for bad in [
        json!({"username": "x", "password": "short", "role": "admin"}),
        json!({"username": "x", "password": "long enough password", "role": "root"}),
        json!({"username": "a:b", "password": "long enough password", "role": "admin"}),
    ] {
        let r = app
            .mgmt(Method::POST, "/operators")
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let list: Value = app
        .mgmt(Method::GET, "/operators")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list,
        json!([
            {"username": "admin", "role": "admin", "createdAt": list[0]["createdAt"]},
            {"username": "reader", "role": "readonly", "createdAt": list[1]["createdAt"]}
        ])
    );
    assert!(
        !list.to_string().contains("argon2"),
        "hashes are never returned"
    );
    let last_admin = app
        .mgmt(Method::DELETE, "/operators/admin")
        .send()
        .await
        .unwrap();
    assert_eq!(last_admin.status(), StatusCode::CONFLICT);
    assert_eq!(
        app.mgmt(Method::DELETE, "/operators/reader")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    let r = app
        .mgmt_as(Method::GET, "/targets", "reader", READER_PASSWORD)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

fn hex_sha256(data: &[u8]) -> String {
    openssl::sha::sha256(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn assigned_and_installed_distribution_sets_of_a_target() {
    let app = crate::helpers::spawn_app().await;
    let (_, token) = app.create_target("dev1").await;
    let get = |what: &'static str| {
        app.mgmt(reqwest::Method::GET, &format!("/targets/dev1/{what}"))
            .send()
    };
    assert_eq!(get("assignedDS").await.unwrap().status(), 204);
    assert_eq!(get("installedDS").await.unwrap().status(), 204);

    let d = app
        .deploy(
            "dev1",
            &[("fw.bin", b"fw")],
            hawkbit_compat_server::store::ActionType::Forced,
        )
        .await;
    let action = app.store.action(d.action_id).await.unwrap().unwrap();
    let assigned: serde_json::Value = get("assignedDS").await.unwrap().json().await.unwrap();
    assert_eq!(assigned["id"], action.distribution_set_id);
    assert_eq!(
        get("installedDS").await.unwrap().status(),
        204,
        "not installed yet"
    );

    let fb = app.ddi_url("dev1", &format!("/deploymentBase/{}/feedback", d.action_id));
    let done =
        serde_json::json!({"status": {"execution": "closed", "result": {"finished": "success"}}});
    assert_eq!(app.post_json(&fb, &token, &done).await.status(), 200);
    let installed: serde_json::Value = get("installedDS").await.unwrap().json().await.unwrap();
    assert_eq!(installed["id"], action.distribution_set_id);
    assert_eq!(
        app.mgmt(reqwest::Method::GET, "/targets/nobody/installedDS")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}
