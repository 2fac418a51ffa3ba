//! Optional short-lived cache of base-poll answers (`poll_cache_ms`, off by default).
//!
//! A base poll is the request a fleet sends most, and its answer rarely changes: with
//! thousands of devices each polling every few minutes, nearly every answer equals the one
//! before it. With the cache on, an answer is reused for the same path, `Authorization` and
//! `Host` for up to `poll_cache_ms`, without touching the database (the poll time is still
//! recorded, in memory). The price is staleness: a new assignment, cancellation or
//! configuration reaches a device up to that much later, as with hawkBit's own caches in a
//! cluster. Credentials are part of the key, so a cached answer is only ever served to a
//! request carrying the same credentials that produced it; a deleted target or changed token
//! takes effect within the same bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::AppState;
use crate::store::now_ms;

/// Entries kept at most; beyond this the cache starts over (one entry per device).
const MAX_ENTRIES: usize = 1_000_000;
/// Largest answer cached (a base poll is a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

/// Put on the response by the poll handler: which target the answer belongs to.
#[derive(Debug, Clone, Copy)]
pub(super) struct PolledTarget(pub i64);

#[derive(Debug)]
struct Entry {
    at: Instant,
    target_id: i64,
    body: Bytes,
}

/// The cache of one router.
#[derive(Debug, Default)]
pub(super) struct PollCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl PollCache {
    fn get(&self, key: &str, ttl: Duration) -> Option<(i64, Bytes)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let e = entries.get(key)?;
        (e.at.elapsed() < ttl).then(|| (e.target_id, e.body.clone()))
    }

    fn put(&self, key: String, target_id: i64, body: Bytes) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                at: Instant::now(),
                target_id,
                body,
            },
        );
    }
}

/// Route layer of the base poll.
pub(super) async fn cached_poll(
    State((state, cache)): State<(AppState, Arc<PollCache>)>,
    req: Request,
    next: Next,
) -> Response {
    let ttl = Duration::from_millis(state.config.poll_cache_ms.into());
    if ttl.is_zero() || req.method() != Method::GET {
        return next.run(req).await;
    }
    let key = {
        let headers = req.headers();
        let header_str = |name| {
            headers
                .get(name)
                .and_then(|v: &header::HeaderValue| v.to_str().ok())
                .unwrap_or("")
        };
        format!(
            "{}\n{}\n{}",
            req.uri(),
            header_str(header::AUTHORIZATION),
            header_str(header::HOST)
        )
    };
    if let Some((target_id, body)) = cache.get(&key, ttl) {
        // Cannot fail: the poll time is only noted in memory.
        let _ = state.store.touch_target(target_id, now_ms()).await;
        return (
            [(header::CONTENT_TYPE, "application/json")],
            Body::from(body),
        )
            .into_response();
    }
    let resp = next.run(req).await;
    let Some(PolledTarget(target_id)) = resp.extensions().get::<PolledTarget>().copied() else {
        return resp;
    };
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => {
            cache.put(key, target_id, bytes.clone());
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot buffer a poll answer");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
