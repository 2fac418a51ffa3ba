//! HTTP layer: routing, shared state, authentication and the error type. Handlers are thin:
//! they authenticate, call the [`store`](crate::store), and convert to wire types.

pub mod ddi;
mod error;
mod httpdate;
pub mod mgmt;
mod ratelimit;

use std::sync::Arc;

use axum::http::{header, HeaderMap};
use axum::Router;
use serde::de::DeserializeOwned;

pub use error::ApiError;
pub use ratelimit::RateLimiter;

use crate::artifacts::ArtifactStore;
use crate::config::Config;
use crate::store::Store;

/// What every handler can reach. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Database.
    pub store: Store,
    /// Artifact files.
    pub artifacts: ArtifactStore,
    /// Effective configuration.
    pub config: Arc<Config>,
    /// DDI request budget.
    pub limiter: Arc<RateLimiter>,
    /// How uploaded RAUC bundles are verified; `None` when no keyring is configured, in which
    /// case bundle uploads are refused.
    pub bundle_verify: Option<Arc<ota_bundle::VerifyOptions>>,
}

/// The complete router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(ddi::router(state.clone()))
        .nest("/rest/v1", mgmt::router(state.clone()))
        .fallback(|| async { ApiError::NotFound })
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// Logs method, path, status and duration of every request. Only the path is logged, never
/// headers or query strings, so credentials cannot end up in the log.
async fn log_request(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let start = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::debug!(
        %method,
        %path,
        status = resp.status().as_u16(),
        elapsed_ms = start.elapsed().as_millis() as u64,
        "request"
    );
    resp
}

/// Parses a JSON body regardless of its `Content-Type`. Real DDI clients label their bodies
/// inconsistently (`application/json;charset=UTF-8`, or nothing), and refusing a device's
/// outcome report over a header would help nobody.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// Base URL for links in responses: the configured external URL, else `http://` plus the
/// request's `Host` header, else empty (links become absolute paths).
pub(crate) fn base_url(config: &Config, headers: &HeaderMap) -> String {
    if let Some(u) = &config.external_url {
        return u.clone();
    }
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        // A Host header is `host[:port]`; anything else is not echoed into links.
        Some(h)
            if !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)) =>
        {
            format!("http://{h}")
        }
        _ => String::new(),
    }
}
