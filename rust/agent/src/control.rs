//! The application's say in the update, served as tiny HTTP on a Unix
//! socket. It may postpone the reboot into a new slot (a user is in the
//! middle of something), but only for `reboot.max_deferral` in total, so a
//! stuck application cannot hold an update back forever. With
//! `consent.mode = "application"` it also answers the server's consent
//! flow, typically after asking its user.
//!
//! - `POST /reboot/defer` with `{"seconds": N}` → `{"granted_seconds": M}`
//! - `DELETE /reboot/defer` → reboot may happen at the next chance
//! - `GET /consent` → the action waiting for consent (200) or none (204)
//! - `POST /consent` with `{"action": ID, "confirmed": bool, "details": "..."}`
//!   → 202; the agent passes it on at its next poll. 409 if that action is
//!   not the one waiting.
//! - `GET /status` → what the agent is doing

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
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

/// An action waiting for the device's consent, as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WaitingAction {
    /// The server's action id, to quote in the answer.
    pub action: u64,
    /// The release's version (of its first software module).
    pub version: Option<String>,
    /// How the server wants the update done (`forced`, `attempt`, ...).
    pub update: ota_ddi::HandlingType,
}

/// The application's answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentAnswer {
    /// The action answered.
    pub action: u64,
    /// Go ahead (`true`) or not now (`false`).
    pub confirmed: bool,
    /// Shown to the operator in the action's history.
    #[serde(default)]
    pub details: Option<String>,
}

#[derive(Debug, Default)]
struct ConsentInner {
    waiting: Option<WaitingAction>,
    answer: Option<ConsentAnswer>,
}

/// Where the agent posts the action waiting for consent and picks up the
/// application's answer. The server only hears the answer at the agent's
/// next poll, so nothing here talks to the network.
#[derive(Debug, Clone, Default)]
pub struct ConsentDesk {
    inner: Arc<Mutex<ConsentInner>>,
}

impl ConsentDesk {
    /// The action the server now asks about (replaces any other).
    pub fn offer(&self, waiting: WaitingAction) {
        let mut g = self.inner.lock().expect("consent lock");
        if g.answer
            .as_ref()
            .is_some_and(|a| a.action != waiting.action)
        {
            g.answer = None;
        }
        g.waiting = Some(waiting);
    }

    /// Takes the application's answer for `action`, if it has given one.
    pub fn take_answer(&self, action: u64) -> Option<ConsentAnswer> {
        let mut g = self.inner.lock().expect("consent lock");
        if g.answer.as_ref().is_some_and(|a| a.action == action) {
            g.waiting = None;
            g.answer.take()
        } else {
            None
        }
    }

    /// Nothing waits any more (the server stopped asking).
    pub fn clear(&self) {
        *self.inner.lock().expect("consent lock") = ConsentInner::default();
    }

    /// What waits now.
    pub fn waiting(&self) -> Option<WaitingAction> {
        self.inner.lock().expect("consent lock").waiting.clone()
    }

    /// Records an answer; refused unless it is about the action waiting.
    pub fn answer(&self, answer: ConsentAnswer) -> Result<(), String> {
        let mut g = self.inner.lock().expect("consent lock");
        match &g.waiting {
            Some(w) if w.action == answer.action => {
                g.answer = Some(answer);
                Ok(())
            }
            Some(w) => Err(format!(
                "action {} is not waiting for consent; action {} is",
                answer.action, w.action
            )),
            None => Err(format!(
                "action {} is not waiting for consent; nothing is",
                answer.action
            )),
        }
    }
}

#[derive(serde::Deserialize)]
struct DeferRequest {
    seconds: u64,
}

#[derive(Clone)]
struct Control {
    deferral: Deferral,
    consent: ConsentDesk,
}

/// The router for the control socket.
pub fn router(deferral: Deferral, consent: ConsentDesk) -> Router {
    Router::new()
        .route(
            "/reboot/defer",
            post(
                |State(c): State<Control>, Json(r): Json<DeferRequest>| async move {
                    let granted = c.deferral.defer(Duration::from_secs(r.seconds));
                    Json(serde_json::json!({ "granted_seconds": granted.as_secs() }))
                },
            )
            .delete(|State(c): State<Control>| async move {
                c.deferral.release();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/consent",
            get(|State(c): State<Control>| async move {
                match c.consent.waiting() {
                    Some(w) => Json(w).into_response(),
                    None => StatusCode::NO_CONTENT.into_response(),
                }
            })
            .post(
                |State(c): State<Control>, Json(a): Json<ConsentAnswer>| async move {
                    match c.consent.answer(a) {
                        Ok(()) => StatusCode::ACCEPTED.into_response(),
                        Err(message) => (
                            StatusCode::CONFLICT,
                            Json(serde_json::json!({ "error": message })),
                        )
                            .into_response(),
                    }
                },
            ),
        )
        .route(
            "/status",
            get(|State(c): State<Control>| async move {
                Json(serde_json::json!({
                    "reboot_deferred": c.deferral.deferred(),
                    "consent_waiting": c.consent.waiting().map(|w| w.action),
                }))
            }),
        )
        .with_state(Control { deferral, consent })
}

/// Creates the control socket (replacing a stale one from an earlier run).
pub fn bind(path: &std::path::Path) -> std::io::Result<tokio::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    tokio::net::UnixListener::bind(path)
}

/// Serves the control API on a bound socket until the task is dropped.
pub async fn serve(
    listener: tokio::net::UnixListener,
    deferral: Deferral,
    consent: ConsentDesk,
) -> std::io::Result<()> {
    axum::serve(listener, router(deferral, consent)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(action: u64) -> WaitingAction {
        WaitingAction {
            action,
            version: Some("2.0.0".into()),
            update: ota_ddi::HandlingType::Forced,
        }
    }

    fn answer(action: u64, confirmed: bool) -> ConsentAnswer {
        ConsentAnswer {
            action,
            confirmed,
            details: None,
        }
    }

    #[test]
    fn consent_answers_only_the_action_waiting_and_only_once() {
        let desk = ConsentDesk::default();
        assert!(desk.answer(answer(7, true)).is_err(), "nothing waits yet");
        desk.offer(waiting(7));
        assert!(desk.answer(answer(8, true)).is_err(), "another action");
        assert_eq!(desk.take_answer(7), None, "no answer yet");
        desk.answer(answer(7, false)).unwrap();
        assert_eq!(desk.take_answer(8), None);
        assert_eq!(desk.take_answer(7), Some(answer(7, false)));
        assert_eq!(desk.take_answer(7), None, "taken once");
        assert_eq!(desk.waiting(), None, "answered actions stop waiting");
        // The server moves on to another action: a stale answer is dropped.
        desk.offer(waiting(7));
        desk.answer(answer(7, true)).unwrap();
        desk.offer(waiting(9));
        assert_eq!(desk.take_answer(7), None);
        assert_eq!(desk.waiting().map(|w| w.action), Some(9));
        desk.clear();
        assert_eq!(desk.waiting(), None);
    }

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
