//! HTTP layer: routing, shared state, authentication and the error type. Handlers are thin:
//! they authenticate, call the [`store`](crate::store), and convert to wire types.

pub mod ddi;
mod error;
mod httpdate;
pub mod mgmt;
mod observe;
mod ratelimit;

use std::sync::Arc;

use axum::http::{header, HeaderMap};
use axum::Router;
use serde::de::DeserializeOwned;

pub use error::ApiError;
pub(crate) use httpdate::format_ms as http_date;
pub use observe::{Metrics, REQUEST_ID};
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
    /// Request counters for `/metrics`.
    pub metrics: Arc<Metrics>,
}

/// Largest request body outside artifact uploads (which stream to disk with their own limit):
/// DDI feedback with a long install log in `details` stays far below it.
pub const MAX_BODY_SIZE: usize = 1024 * 1024;

/// The complete router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(ddi::router(state.clone()))
        .nest("/rest/v1", mgmt::router(state.clone()))
        .route("/metrics", axum::routing::get(observe::metrics))
        .route_layer(axum::middleware::from_fn(observe::tag_route))
        .fallback(|| async { ApiError::NotFound })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_SIZE))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}

/// Parses a JSON body regardless of its `Content-Type`. Real DDI clients label their bodies
/// inconsistently (`application/json;charset=UTF-8`, or nothing), and refusing a device's
/// outcome report over a header would help nobody.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// Base URL for links in responses: the configured external URL, else `http://` (`https://`
/// when serving TLS) plus the request's `Host` header, else empty (links become absolute paths).
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
            let scheme = if config.tls.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{h}")
        }
        _ => String::new(),
    }
}
