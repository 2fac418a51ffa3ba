//! Authentication, isolation between devices on every route, and the rate limit.

use hawkbit_compat_server::store::ActionType;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, GATEWAY_TOKEN};

#[tokio::test]
async fn requests_without_valid_credentials_are_401() {
    let app = spawn_app().await;
    let (_, token) = app.create_target("dev1").await;
    let url = app.ddi_url("dev1", "");
    let no_auth = app.client.get(&url).send().await.unwrap();
    assert_eq!(no_auth.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(no_auth.headers()["www-authenticate"], "TargetToken");
    for header in [
        format!("TargetToken {token}x"),
        "TargetToken ".to_string(),
        format!("Bearer {token}"),
        token.clone(),
        format!("GatewayToken {token}"),
        "GatewayToken wrong-gateway-token-000000".to_string(),
    ] {
        let r = app
            .client
            .get(&url)
            .header("Authorization", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
    // Another device's token does not open this device.
    let (_, other) = app.create_target("dev2").await;
    assert_eq!(
        app.poll("dev1", &other).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A target token for an unknown device does not register it.
    assert_eq!(
        app.poll("ghost", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(app
        .store
        .target_by_controller_id("ghost")
        .await
        .unwrap()
        .is_none());
    assert_eq!(app.poll("dev1", &token).await.status(), 200);
}

#[tokio::test]
async fn gateway_token_acts_for_any_device_and_registers_new_ones() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.ddi_url("fresh-device", ""))
        .header("Authorization", format!("GatewayToken {GATEWAY_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["_links"]["configData"].is_object(),
        "new device is asked for attributes"
    );
    let t = app
        .store
        .target_by_controller_id("fresh-device")
        .await
        .unwrap()
        .expect("registered");
    // The generated token works afterwards.
    assert_eq!(
        app.poll("fresh-device", t.security_token.expose())
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn gateway_token_is_refused_when_not_configured() {
    let app = spawn_app_with(|c| c.gateway_token = None).await;
    let r = app
        .client
        .get(app.ddi_url("dev", ""))
        .header("Authorization", format!("GatewayToken {GATEWAY_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// Device B, fully authenticated, must not reach anything of device A's: every action- or
/// module-scoped route answers 404, exactly as for ids that do not exist.
#[tokio::test]
async fn a_device_sees_only_its_own_actions_and_modules_on_every_route() {
    let app = spawn_app().await;
    let a = app
        .deploy(
            "dev-a",
            &[("a.bin", b"secret firmware of a")],
            ActionType::Forced,
        )
        .await;
    let b = app
        .deploy("dev-b", &[("b.bin", b"firmware of b")], ActionType::Forced)
        .await;
    let (id, sm) = (a.action_id, a.module_id);
    let feedback = json!({"status": {"execution": "closed", "result": {"finished": "success"}}});

    // A finished action of A (for installedBase) and a canceling one (for cancelAction).
    let done = app.ddi_url("dev-a", &format!("/deploymentBase/{id}/feedback"));
    assert_eq!(
        app.post_json(&done, &a.token, &feedback).await.status(),
        200
    );
    let a2 = app
        .deploy("dev-a", &[("a2.bin", b"a2")], ActionType::Forced)
        .await;
    app.store.request_cancel(a2.action_id).await.unwrap();

    let routes: Vec<(Method, String)> = vec![
        (Method::GET, format!("/deploymentBase/{}", a2.action_id)),
        (
            Method::POST,
            format!("/deploymentBase/{}/feedback", a2.action_id),
        ),
        (Method::GET, format!("/cancelAction/{}", a2.action_id)),
        (
            Method::POST,
            format!("/cancelAction/{}/feedback", a2.action_id),
        ),
        (Method::GET, format!("/installedBase/{id}")),
        (Method::GET, format!("/softwaremodules/{sm}/artifacts")),
        (
            Method::GET,
            format!("/softwaremodules/{sm}/artifacts/a.bin"),
        ),
        (
            Method::HEAD,
            format!("/softwaremodules/{sm}/artifacts/a.bin"),
        ),
        (
            Method::GET,
            format!("/softwaremodules/{sm}/artifacts/a.bin.MD5SUM"),
        ),
    ];
    for (method, rest) in &routes {
        // As device B under its own controller id: not found.
        let as_b = app.ddi_url("dev-b", rest);
        let r = app
            .ddi(method.clone(), &as_b, &b.token)
            .json(&feedback)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::NOT_FOUND,
            "{method} {rest} as dev-b"
        );
        // As device B's token under A's controller id: unauthorized.
        let as_a = app.ddi_url("dev-a", rest);
        let r = app
            .ddi(method.clone(), &as_a, &b.token)
            .json(&feedback)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {rest} with dev-b's token"
        );
        // Without credentials: unauthorized.
        let r = app
            .client
            .request(method.clone(), &as_a)
            .json(&feedback)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {rest} anonymous"
        );
    }
    // The base and configData routes are per device by construction; B cannot use A's.
    assert_eq!(
        app.poll("dev-a", &b.token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let put = app
        .ddi(Method::PUT, &app.ddi_url("dev-a", "/configData"), &b.token)
        .body(r#"{"data":{"x":"y"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::UNAUTHORIZED);

    // Nothing of A's changed, and A itself still reaches all of it.
    let a2_state = app.store.action(a2.action_id).await.unwrap().unwrap();
    assert!(a2_state.active);
    for (method, rest) in &routes[..3] {
        let skip_post = *method == Method::POST;
        if skip_post {
            continue;
        }
        let r = app
            .ddi(method.clone(), &app.ddi_url("dev-a", rest), &a.token)
            .send()
            .await
            .unwrap();
        let expected = if rest.starts_with("/deploymentBase") {
            404
        } else {
            200
        };
        assert_eq!(r.status(), expected, "{method} {rest} as dev-a");
    }
    for (method, rest) in &routes[4..] {
        let r = app
            .ddi(method.clone(), &app.ddi_url("dev-a", rest), &a.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{method} {rest} as dev-a");
    }
    // B's own things work for B.
    let own = app.ddi_url("dev-b", &format!("/deploymentBase/{}", b.action_id));
    assert_eq!(
        app.ddi(Method::GET, &own, &b.token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn too_many_requests_are_429_with_retry_after() {
    let app = spawn_app_with(|c| c.rate_limit = 1).await;
    let (_, token) = app.create_target("dev1").await;
    // Burst of 2, then limited.
    assert_eq!(app.poll("dev1", &token).await.status(), 200);
    assert_eq!(app.poll("dev1", &token).await.status(), 200);
    let r = app.poll("dev1", &token).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "1");
    // Limited before authentication, so floods cost no database work.
    let anon = app
        .client
        .get(app.ddi_url("dev1", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::TOO_MANY_REQUESTS);
}
