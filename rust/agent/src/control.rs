//! The application's say in when the device reboots: it may postpone the
//! reboot into a new slot (a user is in the middle of something), but only
//! for `reboot.max_deferral` in total, so a stuck application cannot hold an
//! update back forever. Served as tiny HTTP on a Unix socket:
//!
//! - `POST /reboot/defer` with `{"seconds": N}` → `{"granted_seconds": M}`
//! - `DELETE /reboot/defer` → reboot may happen at the next chance
//! - `GET /status` → what the agent is doing

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Default)]
struct Inner {
    until: Option<Instant>,
    first: Option<Instant>,
}

/// Shared deferral state.
#[derive(Debug, Clone)]
pub struct Deferral {
    inner: Arc<Mutex<Inner>>,
    max: Duration,
}

impl Deferral {
    /// Allows at most `max` of deferral per update.
    pub fn new(max: Duration) -> Deferral {
        Deferral {
            inner: Arc::default(),
            max,
        }
    }

    /// Asks for `want` more; returns what was granted (possibly zero).
    pub fn defer(&self, want: Duration) -> Duration {
        let now = Instant::now();
        let mut g = self.inner.lock().expect("deferral lock");
        let first = *g.first.get_or_insert(now);
        let budget_end = first + self.max;
        let until = (now + want).min(budget_end);
        let granted = until.saturating_duration_since(now);
        g.until = Some(until);
        granted
    }

    /// Gives up the deferral.
    pub fn release(&self) {
        self.inner.lock().expect("deferral lock").until = None;
    }

    /// Whether a reboot must wait now.
    pub fn deferred(&self) -> bool {
        self.inner
            .lock()
            .expect("deferral lock")
            .until
            .is_some_and(|u| u > Instant::now())
    }
}

#[derive(serde::Deserialize)]
struct DeferRequest {
    seconds: u64,
}

/// The router for the control socket.
pub fn router(deferral: Deferral) -> Router {
    Router::new()
        .route(
            "/reboot/defer",
            post(
                |State(d): State<Deferral>, Json(r): Json<DeferRequest>| async move {
                    let granted = d.defer(Duration::from_secs(r.seconds));
                    Json(serde_json::json!({ "granted_seconds": granted.as_secs() }))
                },
            )
            .delete(|State(d): State<Deferral>| async move {
                d.release();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/status",
            get(|State(d): State<Deferral>| async move {
                Json(serde_json::json!({ "reboot_deferred": d.deferred() }))
            }),
        )
        .with_state(deferral)
}

/// Serves the control API on a Unix socket until the task is dropped.
pub async fn serve(path: &std::path::Path, deferral: Deferral) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path)?;
    axum::serve(listener, router(deferral)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn deferral_is_bounded() {
        let d = Deferral::new(Duration::from_secs(600));
        assert!(!d.deferred());
        assert_eq!(d.defer(Duration::from_secs(300)), Duration::from_secs(300));
        assert!(d.deferred());
        tokio::time::advance(Duration::from_secs(301)).await;
        assert!(!d.deferred());
        // Only 299 s of the budget are left.
        assert_eq!(d.defer(Duration::from_secs(1000)), Duration::from_secs(299));
        tokio::time::advance(Duration::from_secs(300)).await;
        assert_eq!(d.defer(Duration::from_secs(10)), Duration::ZERO);
        assert!(!d.deferred());
        d.release();
    }
}
