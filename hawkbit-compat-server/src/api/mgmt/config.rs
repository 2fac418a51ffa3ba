//! Per-device configuration, management side:
//!
//! * `GET/PUT /targets/{controllerId}/config`, `GET .../config/history`
//! * `GET/PUT /targetfilters/{id}/config`, `GET .../config/history`
//! * `GET/PUT /system/deviceconfig`, `GET .../history` (tenant-wide)
//!
//! `PUT` takes the complete new key/values of the scope as a JSON object; a value is a string,
//! or `{"value": "...", "secret": true}` for a secret. Every `PUT` is a new revision; the
//! history keeps the old ones. Secret values are write-only here: responses show
//! `{"secret": true}` in their place, and they are only ever sent to the device itself.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Operator, PagedList, Paging};
use crate::api::{parse_json, ApiError, AppState};
use crate::store::{ConfigRevision, ConfigScope, ConfigSource, ConfigValue};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/targets/{controller_id}/config",
            get(show_target).put(put_target),
        )
        .route(
            "/targets/{controller_id}/config/history",
            get(target_history),
        )
        .route(
            "/targetfilters/{id}/config",
            get(show_filter).put(put_filter),
        )
        .route("/targetfilters/{id}/config/history", get(filter_history))
        .route("/system/deviceconfig", get(show_tenant).put(put_tenant))
        .route("/system/deviceconfig/history", get(tenant_history))
}

/// Most keys per scope.
const MAX_KEYS: usize = 500;
/// Longest value in bytes.
const MAX_VALUE: usize = 16 * 1024;

/// Parses a `PUT` body. Errors name the key but never echo a value.
fn parse_entries(body: &[u8]) -> Result<BTreeMap<String, ConfigValue>, ApiError> {
    let obj: Map<String, Value> = parse_json(body)?;
    if obj.len() > MAX_KEYS {
        return Err(ApiError::BadRequest(format!("at most {MAX_KEYS} keys")));
    }
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        if k.is_empty()
            || k.len() > 128
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(ApiError::BadRequest(format!(
                "key {k:?}: 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', '-'"
            )));
        }
        let value = match v {
            Value::String(s) => ConfigValue {
                value: s,
                secret: false,
            },
            Value::Object(o) => {
                let value = match o.get("value") {
                    Some(Value::String(s)) => s.clone(),
                    _ => {
                        return Err(ApiError::BadRequest(format!(
                            "key {k:?}: \"value\" must be a string"
                        )))
                    }
                };
                let secret = match o.get("secret") {
                    None => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => {
                        return Err(ApiError::BadRequest(format!(
                            "key {k:?}: \"secret\" must be true or false"
                        )))
                    }
                };
                ConfigValue { value, secret }
            }
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "key {k:?}: a value is a string or {{\"value\": \"...\", \"secret\": true}}"
                )))
            }
        };
        if value.value.len() > MAX_VALUE {
            return Err(ApiError::BadRequest(format!(
                "key {k:?}: value longer than {MAX_VALUE} bytes"
            )));
        }
        out.insert(k, value);
    }
    Ok(out)
}

/// A value as operators see it.
fn shown(v: &ConfigValue) -> Value {
    if v.secret {
        serde_json::json!({ "secret": true })
    } else {
        Value::String(v.value.clone())
    }
}

fn shown_map(entries: &BTreeMap<String, ConfigValue>) -> Map<String, Value> {
    entries.iter().map(|(k, v)| (k.clone(), shown(v))).collect()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ScopeBody {
    /// 0 when nothing was ever saved.
    revision: i64,
    config: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by: Option<String>,
}

impl From<Option<ConfigRevision>> for ScopeBody {
    fn from(r: Option<ConfigRevision>) -> Self {
        match r {
            None => ScopeBody {
                revision: 0,
                config: Map::new(),
                created_at: None,
                created_by: None,
            },
            Some(r) => ScopeBody {
                revision: r.revision,
                config: shown_map(&r.entries),
                created_at: Some(r.created_at),
                created_by: Some(r.created_by),
            },
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceBody {
    /// Revision of the device's merged configuration.
    revision: i64,
    /// What the device last confirmed.
    applied_revision: i64,
    up_to_date: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    applied_at: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetConfigBody {
    #[serde(flatten)]
    scope: ScopeBody,
    /// The merged configuration: `{"key": {"value": "..." | "secret": true, "source": ...}}`.
    effective: Map<String, Value>,
    device: DeviceBody,
}

fn source_name(s: ConfigSource) -> Value {
    match s {
        ConfigSource::Tenant => Value::String("tenant".into()),
        ConfigSource::Target => Value::String("target".into()),
        ConfigSource::Filter(id) => serde_json::json!({ "targetFilter": id }),
    }
}

async fn target_scope(
    state: &AppState,
    controller_id: &str,
) -> Result<(i64, ConfigScope), ApiError> {
    let t = state
        .store
        .target_by_controller_id(controller_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((t.target_id, ConfigScope::Target(t.target_id)))
}

async fn target_body(state: &AppState, target_id: i64) -> Result<TargetConfigBody, ApiError> {
    let own = state.store.config(ConfigScope::Target(target_id)).await?;
    let (device, effective) = state.store.refresh_device_config(target_id).await?;
    let effective = effective
        .entries
        .iter()
        .map(|(k, (v, src))| {
            let mut o = Map::new();
            if v.secret {
                o.insert("secret".into(), Value::Bool(true));
            } else {
                o.insert("value".into(), Value::String(v.value.clone()));
            }
            o.insert("source".into(), source_name(*src));
            (k.clone(), Value::Object(o))
        })
        .collect();
    Ok(TargetConfigBody {
        scope: own.into(),
        effective,
        device: DeviceBody {
            revision: device.revision,
            applied_revision: device.applied_revision,
            up_to_date: device.up_to_date(),
            error: device.applied_error,
            applied_at: device.applied_at,
        },
    })
}

async fn show_target(
    State(state): State<AppState>,
    Path(controller_id): Path<String>,
) -> Result<Json<TargetConfigBody>, ApiError> {
    let (id, _) = target_scope(&state, &controller_id).await?;
    Ok(Json(target_body(&state, id).await?))
}

async fn put_target(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    Path(controller_id): Path<String>,
    body: Bytes,
) -> Result<Json<TargetConfigBody>, ApiError> {
    let entries = parse_entries(&body)?;
    let (id, scope) = target_scope(&state, &controller_id).await?;
    let revision = state
        .store
        .put_config(scope, &entries, &op.username)
        .await?;
    tracing::info!(controller_id = %controller_id, revision, keys = entries.len(), "target configuration saved");
    Ok(Json(target_body(&state, id).await?))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryEntry {
    revision: i64,
    config: Map<String, Value>,
    created_at: i64,
    created_by: String,
}

async fn history(
    state: &AppState,
    scope: ConfigScope,
    p: &Paging,
) -> Result<Json<PagedList<HistoryEntry>>, ApiError> {
    let (revs, total) = state.store.config_history(scope, p.offset, p.limit).await?;
    Ok(Json(PagedList::new(
        revs.into_iter()
            .map(|r| HistoryEntry {
                revision: r.revision,
                config: shown_map(&r.entries),
                created_at: r.created_at,
                created_by: r.created_by,
            })
            .collect(),
        total,
    )))
}

async fn target_history(
    State(state): State<AppState>,
    Path(controller_id): Path<String>,
    Query(p): Query<Paging>,
) -> Result<Json<PagedList<HistoryEntry>>, ApiError> {
    let (_, scope) = target_scope(&state, &controller_id).await?;
    history(&state, scope, &p).await
}

async fn filter_scope(state: &AppState, id: i64) -> Result<ConfigScope, ApiError> {
    state
        .store
        .target_filter(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(ConfigScope::Filter(id))
}

async fn show_filter(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<ScopeBody>, ApiError> {
    let scope = filter_scope(&state, id).await?;
    Ok(Json(state.store.config(scope).await?.into()))
}

async fn put_filter(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<ScopeBody>, ApiError> {
    let entries = parse_entries(&body)?;
    let scope = filter_scope(&state, id).await?;
    let revision = state
        .store
        .put_config(scope, &entries, &op.username)
        .await?;
    tracing::info!(
        filter = id,
        revision,
        keys = entries.len(),
        "filter configuration saved"
    );
    Ok(Json(state.store.config(scope).await?.into()))
}

async fn filter_history(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<Paging>,
) -> Result<Json<PagedList<HistoryEntry>>, ApiError> {
    let scope = filter_scope(&state, id).await?;
    history(&state, scope, &p).await
}

async fn show_tenant(State(state): State<AppState>) -> Result<Json<ScopeBody>, ApiError> {
    Ok(Json(state.store.config(ConfigScope::Tenant).await?.into()))
}

async fn put_tenant(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    body: Bytes,
) -> Result<Json<ScopeBody>, ApiError> {
    let entries = parse_entries(&body)?;
    let revision = state
        .store
        .put_config(ConfigScope::Tenant, &entries, &op.username)
        .await?;
    tracing::info!(revision, keys = entries.len(), "tenant configuration saved");
    Ok(Json(state.store.config(ConfigScope::Tenant).await?.into()))
}

async fn tenant_history(
    State(state): State<AppState>,
    Query(p): Query<Paging>,
) -> Result<Json<PagedList<HistoryEntry>>, ApiError> {
    history(&state, ConfigScope::Tenant, &p).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_secret_values_and_rejects_bad_ones() {
        let e = parse_entries(br#"{"a":"1","b":{"value":"s3cret","secret":true}}"#).unwrap();
        assert_eq!(e["a"].value, "1");
        assert!(!e["a"].secret);
        assert!(e["b"].secret);
        for bad in [
            r#"{"a":1}"#,
            r#"{"a b":"x"}"#,
            r#"{"a":{"secret":true}}"#,
            r#"{"a":{"value":"x","secret":"yes"}}"#,
            r#"["a"]"#,
        ] {
            assert!(parse_entries(bad.as_bytes()).is_err(), "{bad}");
        }
        let err = parse_entries(br#"{"k":{"value":"hunter2","secret":1}}"#).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn secrets_are_masked_for_operators() {
        let v = ConfigValue {
            value: "hunter2".into(),
            secret: true,
        };
        assert_eq!(shown(&v), serde_json::json!({"secret": true}));
        assert!(!format!("{v:?}").contains("hunter2"));
    }
}
