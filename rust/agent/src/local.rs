//! Manual updates from the device's own web interface (reached over its
//! access-point Wi-Fi): the bundle is uploaded here, checked with the bundle
//! library (signature against the device keyring, `compatible`, version
//! policy) and only then handed to RAUC, which checks the signature again
//! before writing. Works in development mode too.
//!
//! - `POST /bundle` (body: the bundle; `Authorization: Bearer <token>`;
//!   `?allow_downgrade=true` to install an older version)
//! - `GET /status` → `{"state": "...", "message": "...", "progress": N}`

use crate::agent::Agent;
use crate::config::Local;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_lite::StreamExt;
use std::io::Write;
use std::sync::Arc;
use tokio::sync::Mutex;

/// What the local interface is doing, for `GET /status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Status {
    /// idle, receiving, checking, installing, installed, failed.
    pub state: String,
    /// Human message.
    pub message: String,
    /// Installation progress, percent.
    pub progress: i32,
}

#[derive(Clone)]
struct Ctx {
    agent: Arc<Mutex<Agent>>,
    cfg: Local,
    token: Arc<String>,
    status: Arc<std::sync::Mutex<Status>>,
}

impl Ctx {
    fn set(&self, state: &str, message: impl Into<String>, progress: i32) {
        *self.status.lock().expect("status lock") = Status {
            state: state.into(),
            message: message.into(),
            progress,
        };
    }
}

fn reply(code: StatusCode, message: impl Into<String>) -> Response {
    // A refusal may come before the client finished sending the bundle; the
    // rest is not read, so the connection cannot be reused: say so, or the
    // client's next request on it fails.
    (
        code,
        [(axum::http::header::CONNECTION, "close")],
        Json(serde_json::json!({ "error": message.into() })),
    )
        .into_response()
}

/// The router; `token` is the shared secret of the web interface.
pub fn router(agent: Arc<Mutex<Agent>>, cfg: Local, token: String) -> Router {
    let limit = usize::try_from(cfg.max_bundle_bytes).unwrap_or(usize::MAX);
    let ctx = Ctx {
        agent,
        cfg,
        token: Arc::new(token),
        status: Arc::new(std::sync::Mutex::new(Status {
            state: "idle".into(),
            ..Status::default()
        })),
    };
    Router::new()
        .route("/bundle", post(upload).layer(DefaultBodyLimit::max(limit)))
        .route(
            "/status",
            get(|State(c): State<Ctx>| async move {
                Json(c.status.lock().expect("status lock").clone())
            }),
        )
        .with_state(ctx)
}

#[derive(serde::Deserialize)]
struct UploadQuery {
    #[serde(default)]
    allow_downgrade: bool,
}

fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(given) = v.strip_prefix("Bearer ") else {
        return false;
    };
    // Compare in constant time, so the token cannot be guessed byte by byte
    // from response timing.
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn upload(
    State(c): State<Ctx>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !authorized(&headers, &c.token) {
        return reply(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    // One installation at a time; also keeps the poll loop out meanwhile.
    let Ok(mut agent) = c.agent.try_lock() else {
        return reply(StatusCode::CONFLICT, "an update is already in progress");
    };
    c.set("receiving", "receiving bundle", 0);
    let dir = agent.upload_dir();
    let mut tmp = match tempfile::Builder::new()
        .prefix("local-")
        .suffix(".raucb")
        .tempfile_in(&dir)
    {
        Ok(t) => t,
        Err(e) => {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot store the upload: {e}"),
            )
        }
    };
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                c.set("failed", format!("upload interrupted: {e}"), 0);
                let too_big = e.to_string().contains("length limit");
                return if too_big {
                    reply(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("bundle larger than {} bytes", c.cfg.max_bundle_bytes),
                    )
                } else {
                    reply(StatusCode::BAD_REQUEST, format!("upload interrupted: {e}"))
                };
            }
        };
        size += chunk.len() as u64;
        if size > c.cfg.max_bundle_bytes {
            c.set("failed", "bundle too large", 0);
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("bundle larger than {} bytes", c.cfg.max_bundle_bytes),
            );
        }
        if let Err(e) = tmp.write_all(&chunk) {
            c.set("failed", format!("cannot store the upload: {e}"), 0);
            return reply(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("cannot store the upload: {e}"),
            );
        }
    }
    if let Err(e) = tmp.as_file().sync_all() {
        return reply(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("cannot store the upload: {e}"),
        );
    }
    // RAUC insists on being the only one with the bundle open (it takes a
    // file lease), so close it; the path still removes itself when dropped.
    let tmp = tmp.into_temp_path();
    c.set("checking", "checking signature and compatibility", 0);
    let path = tmp.to_path_buf();
    let keyring = c.cfg.keyring.clone();
    let checked = tokio::task::spawn_blocking(move || -> Result<ota_bundle::BundleInfo, String> {
        let keyring = ota_bundle::Keyring::load(&keyring).map_err(|e| e.to_string())?;
        let mut opts = ota_bundle::VerifyOptions::new(keyring);
        opts.purpose = ota_bundle::Purpose::Codesign;
        let mut b = ota_bundle::Bundle::open(&path).map_err(|e| e.to_string())?;
        b.inspect(Some(&opts), &mut ota_bundle::NoProgress)
            .map_err(|e| e.to_string())
    })
    .await;
    let info = match checked {
        Ok(Ok(i)) => i,
        Ok(Err(e)) => {
            c.set("failed", e.clone(), 0);
            return reply(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("bundle rejected: {e}"),
            );
        }
        Err(e) => return reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let rauc = agent.installer();
    let compatible = rauc.compatible().await.unwrap_or_default();
    if info.manifest.update.compatible != compatible {
        let m = format!(
            "bundle is for '{}', this device is '{compatible}'",
            info.manifest.update.compatible
        );
        c.set("failed", m.clone(), 0);
        return reply(StatusCode::UNPROCESSABLE_ENTITY, m);
    }
    let installed = rauc
        .slots()
        .await
        .ok()
        .and_then(|s| s.into_iter().find(|s| s.state == "booted"))
        .and_then(|s| s.bundle_version);
    let new_version = info.manifest.update.version.clone();
    if let (Some(old), Some(new)) = (&installed, &new_version) {
        if let (Ok(o), Ok(n)) = (semver::Version::parse(old), semver::Version::parse(new)) {
            if n < o && !q.allow_downgrade {
                let m = format!("bundle version {new} is older than the installed {old} (add ?allow_downgrade=true)");
                c.set("failed", m.clone(), 0);
                return reply(StatusCode::CONFLICT, m);
            }
        }
    }
    c.set("installing", "installing", 0);
    let status = c.status.clone();
    let res = rauc
        .install(
            &tmp.to_string_lossy(),
            &crate::installer::InstallOptions::default(),
            |p| {
                status.lock().expect("status lock").progress = p.percent;
            },
        )
        .await;
    if let Err(e) = res {
        c.set("failed", e.to_string(), 0);
        return reply(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
    }
    if let Err(e) = agent.record_local_install(new_version.clone()).await {
        c.set("failed", e.to_string(), 100);
        return reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    c.set(
        "installed",
        "installed; the device reboots into the new version",
        100,
    );
    (
        StatusCode::OK,
        Json(serde_json::json!({ "result": "installed", "version": new_version, "reboot": true })),
    )
        .into_response()
}
