//! Base poll and configData.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use ota_ddi::{paths, ConfigData, ControllerBase, ControllerConfig, Link, Links, Polling};

use super::{ddi_id, DdiTarget};
use crate::api::{base_url, parse_json, ApiError, AppState};
use crate::store::{now_ms, Action, ActionState, ActionType};

/// The `?c=` value of a deploymentBase link. It changes whenever the answer behind the link
/// would change (another action, or another handling type), so caches keyed on the URL miss.
/// The Python rauc-hawkbit client requires the parameter to be present.
pub(super) fn cache_key(action: &Action) -> i64 {
    let salt = match action.effective_type(now_ms()) {
        ActionType::Forced | ActionType::TimeForced => 1231,
        ActionType::Soft => 1237,
        ActionType::DownloadOnly => 1249,
    };
    action.action_id.wrapping_mul(31).wrapping_add(salt)
}

/// `GET /{tenant}/controller/v1/{controllerId}`
///
/// Links: `cancelAction` if the oldest open action is being canceled, else `deploymentBase` for
/// it; `installedBase` for the last installed action; `configData` while the server wants the
/// device's attributes (new device, or after an update); `deviceConfig` (extension) while the
/// device has not confirmed the current revision of its configuration.
pub(super) async fn base_poll(
    State(state): State<AppState>,
    ddi: DdiTarget,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let target = &ddi.target;
    let now = now_ms();
    if target.last_poll_at.is_none() {
        // First contact: auto-assignments apply before the device sees its links.
        crate::rollout::auto_assign_target(&state.store, target.target_id, now).await?;
    }
    state.store.touch_target(target.target_id, now).await?;
    let base = base_url(&state.config, &headers);
    let (tenant, cid) = (ddi.tenant.as_str(), ddi.controller_id());
    let link = |path: String| Some(Link::new(format!("{base}{path}")));

    let mut links = Links::default();
    let (open_action, last_done) = state.store.poll_actions(target.target_id).await?;
    if let Some(action) = &open_action {
        let id = ddi_id(action.action_id);
        if action.state == ActionState::Canceling {
            links.cancel_action = link(paths::cancel_action(tenant, cid, id));
        } else {
            links.deployment_base =
                link(paths::deployment_base(tenant, cid, id, cache_key(action)));
        }
    }
    if let Some(done) = last_done {
        links.installed_base = link(paths::installed_base(tenant, cid, ddi_id(done.action_id)));
    }
    if target.request_attributes {
        links.config_data = link(paths::config_data(tenant, cid));
    }
    let (config, _) = state.store.refresh_device_config(target.target_id).await?;
    if config.applied_revision < config.revision {
        links.device_config = link(paths::device_config(tenant, cid));
    }
    let mut resp = axum::response::IntoResponse::into_response(Json(ControllerBase {
        config: ControllerConfig {
            polling: Polling {
                sleep: state.config.poll_interval,
            },
        },
        links,
    }));
    resp.extensions_mut()
        .insert(super::poll_cache::PolledTarget(target.target_id));
    Ok(resp)
}

/// `PUT .../configData`: stores the device's attributes (merge, replace or remove) and stops
/// asking for them. Answers 200 with an empty body, which is what clients check for.
pub(super) async fn put_config_data(
    State(state): State<AppState>,
    ddi: DdiTarget,
    body: Bytes,
) -> Result<(), ApiError> {
    let update: ConfigData = parse_json(&body)?;
    if update.data.len() > 1000 {
        return Err(ApiError::Conflict(
            "too many attributes (limit 1000)".into(),
        ));
    }
    state
        .store
        .update_target_attributes(ddi.target.target_id, &update)
        .await?;
    // New attributes may make the device match an auto-assignment filter.
    crate::rollout::auto_assign_target(&state.store, ddi.target.target_id, now_ms()).await?;
    Ok(())
}
