//! Manual updates from the device's own web interface (reached over its
//! access-point Wi-Fi): the bundle is uploaded here, checked with the bundle
//! library (signature against the device keyring, `compatible`, version
//! policy) and only then handed to RAUC, which checks the signature again
//! before writing. Works in development mode too.
//!
//! The signature check runs in a separate program,
//! `update-agent-check-bundle` (built from this crate, installed next to
//! `update-agent`): the bundle library links OpenSSL and libsquashfs, and
//! linked into the daemon they would stay resident on every device all the
//! time (measured: over 2 MiB of the 9 MiB the agent kept resident) for a
//! check that runs only when someone uploads a bundle by hand. An upload is
//! refused when the checker is missing or fails.
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
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
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

/// What `update-agent-check-bundle` reports about a bundle whose signature
/// it accepted (one JSON object on its standard output).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckedBundle {
    /// The manifest's `compatible`.
    pub compatible: String,
    /// The manifest's `version`.
    pub version: Option<String>,
}

/// The checker program: the configured one, else the one next to the
/// running executable, else whatever `PATH` finds.
pub fn checker_path(cfg: &Local) -> PathBuf {
    const NAME: &str = "update-agent-check-bundle";
    if let Some(p) = &cfg.checker {
        return p.clone();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(NAME)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(NAME))
}

/// Why an upload did not pass the check.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The checker refused the bundle; its reason.
    #[error("bundle rejected: {0}")]
    Rejected(String),
    /// The check could not be done (checker missing, killed, timed out,
    /// or its answer unreadable): nothing is said about the bundle.
    #[error("cannot check the bundle: {0}")]
    Unavailable(String),
}

/// Checks the bundle at `path` with the checker program: signature against
/// `cfg.keyring` (code-signing purpose).
pub async fn check_bundle(cfg: &Local, path: &Path) -> Result<CheckedBundle, CheckError> {
    // A plain bundle is signed as a whole, so the check reads all of it (up
    // to max_bundle_bytes, from slow flash): generous, but not unbounded.
    const LIMIT: Duration = Duration::from_secs(15 * 60);
    let argv = [
        checker_path(cfg).into_os_string(),
        "--keyring".into(),
        cfg.keyring.clone().into_os_string(),
        path.as_os_str().to_owned(),
    ];
    let argv: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match crate::exec::run(&argv, LIMIT).await {
        Ok(out) => serde_json::from_str(out.trim())
            .map_err(|e| CheckError::Unavailable(format!("{}: unexpected output: {e}", argv[0]))),
        // Exit status 1 with a reason on standard error: a refusal, which
        // the person uploading gets to read.
        Err(crate::exec::ExecError::Failed { status, output, .. })
            if status.ends_with("exit status: 1") && !output.is_empty() =>
        {
            Err(CheckError::Rejected(output))
        }
        Err(e) => Err(CheckError::Unavailable(e.to_string())),
    }
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
    let info = match check_bundle(&c.cfg, &tmp).await {
        Ok(i) => i,
        Err(e) => {
            c.set("failed", e.to_string(), 0);
            let code = match e {
                CheckError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
                CheckError::Unavailable(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            return reply(code, e.to_string());
        }
    };
    let rauc = agent.installer();
    let compatible = rauc.compatible().await.unwrap_or_default();
    if info.compatible != compatible {
        let m = format!(
            "bundle is for '{}', this device is '{compatible}'",
            info.compatible
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
    let new_version = info.version.clone();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn local_with(checker: PathBuf) -> Local {
        Local {
            listen: "127.0.0.1:0".into(),
            token_file: "/nonexistent".into(),
            max_bundle_bytes: 1,
            keyring: "/keyring.pem".into(),
            checker: Some(checker),
        }
    }

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[tokio::test]
    async fn the_checker_s_answer_decides() {
        let d = tempfile::tempdir().unwrap();
        let bundle = d.path().join("b.raucb");

        let ok = script(
            d.path(),
            "ok",
            r#"[ "$1 $2 $3" = "--keyring /keyring.pem $(dirname "$0")/b.raucb" ] || exit 3
echo '{"compatible":"Dev","version":"2.0.0"}'"#,
        );
        let c = check_bundle(&local_with(ok), &bundle).await.unwrap();
        assert_eq!(c.compatible, "Dev");
        assert_eq!(c.version.as_deref(), Some("2.0.0"));

        let refuse = script(
            d.path(),
            "refuse",
            "echo 'signature: unknown signer' >&2; exit 1",
        );
        match check_bundle(&local_with(refuse), &bundle).await {
            Err(CheckError::Rejected(why)) => assert_eq!(why, "signature: unknown signer"),
            other => panic!("{other:?}"),
        }

        // No checker, or one that crashes: the bundle is not accepted, and
        // not blamed either.
        let missing = d.path().join("no-such-checker");
        assert!(matches!(
            check_bundle(&local_with(missing), &bundle).await,
            Err(CheckError::Unavailable(_))
        ));
        let crash = script(d.path(), "crash", "kill -SEGV $$");
        assert!(matches!(
            check_bundle(&local_with(crash), &bundle).await,
            Err(CheckError::Unavailable(_))
        ));
    }
}
