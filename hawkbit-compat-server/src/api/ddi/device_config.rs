//! Device configuration, the DDI extension: `GET .../deviceConfig` and
//! `PUT .../deviceConfig/applied` (wire types in `ota-ddi`).
//!
//! Secret values travel only here, to the device they belong to; they are never logged.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ota_ddi::{AppliedConfig, DeviceConfig};

use super::DdiTarget;
use crate::api::{parse_json, ApiError, AppState};

/// Longest error text a device may report.
const MAX_ERROR_LEN: usize = 2048;

fn etag(revision: i64) -> String {
    format!("\"config-{revision}\"")
}

/// Whether an `If-None-Match` header names `tag` (or is `*`).
fn none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag || t == "*")
}

/// `GET .../deviceConfig`: the merged configuration with its revision; `304` when the
/// `If-None-Match` names the current revision's ETag.
pub(super) async fn get_device_config(
    State(state): State<AppState>,
    ddi: DdiTarget,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (device, effective) = state
        .store
        .refresh_device_config(ddi.target.target_id)
        .await?;
    let tag = etag(device.revision);
    let tag_header =
        HeaderValue::from_str(&tag).map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    if none_match(&headers, &tag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, tag_header)]).into_response());
    }
    let body = DeviceConfig {
        revision: u64::try_from(device.revision).unwrap_or_default(),
        config: effective
            .entries
            .into_iter()
            .map(|(k, (v, _))| (k, v.value))
            .collect(),
    };
    Ok((
        [
            (header::ETAG, tag_header),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Json(body),
    )
        .into_response())
}

/// `PUT .../deviceConfig/applied` with `{"revision": N}` or `{"revision": N, "error": "..."}`.
pub(super) async fn put_applied(
    State(state): State<AppState>,
    ddi: DdiTarget,
    body: Bytes,
) -> Result<(), ApiError> {
    let report: AppliedConfig = parse_json(&body)?;
    let revision = i64::try_from(report.revision)
        .map_err(|_| ApiError::BadRequest("revision out of range".into()))?;
    let error = report.error.map(|mut e| {
        if e.len() > MAX_ERROR_LEN {
            let mut cut = MAX_ERROR_LEN;
            while !e.is_char_boundary(cut) {
                cut -= 1;
            }
            e.truncate(cut);
        }
        e
    });
    let s = state
        .store
        .record_config_applied(ddi.target.target_id, revision, error.as_deref())
        .await?;
    tracing::debug!(
        controller_id = %ddi.controller_id(),
        revision,
        failed = error.is_some(),
        current = s.revision,
        "device configuration report"
    );
    Ok(())
}
