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
    let salt = match action.action_type {
        ActionType::Forced => 1231,
        ActionType::Soft => 1237,
        ActionType::DownloadOnly => 1249,
    };
    action.action_id.wrapping_mul(31).wrapping_add(salt)
}

/// `GET /{tenant}/controller/v1/{controllerId}`
///
/// Links: `cancelAction` if the oldest open action is being canceled, else `deploymentBase` for
/// it; `installedBase` for the last installed action; `configData` while the server wants the
/// device's attributes (new device, or after an update).
pub(super) async fn base_poll(
    State(state): State<AppState>,
    ddi: DdiTarget,
    headers: HeaderMap,
) -> Result<Json<ControllerBase>, ApiError> {
    let target = &ddi.target;
    state.store.touch_target(target.target_id, now_ms()).await?;
    let base = base_url(&state.config, &headers);
    let (tenant, cid) = (ddi.tenant.as_str(), ddi.controller_id());
    let link = |path: String| Some(Link::new(format!("{base}{path}")));

    let mut links = Links::default();
    if let Some(action) = state.store.active_actions(target.target_id).await?.first() {
        let id = ddi_id(action.action_id);
        if action.state == ActionState::Canceling {
            links.cancel_action = link(paths::cancel_action(tenant, cid, id));
        } else {
            links.deployment_base =
                link(paths::deployment_base(tenant, cid, id, cache_key(action)));
        }
    }
    if let Some(done) = state.store.last_finished_action(target.target_id).await? {
        links.installed_base = link(paths::installed_base(tenant, cid, ddi_id(done.action_id)));
    }
    if target.request_attributes {
        links.config_data = link(paths::config_data(tenant, cid));
    }
    Ok(Json(ControllerBase {
        config: ControllerConfig {
            polling: Polling {
                sleep: state.config.poll_interval,
            },
        },
        links,
    }))
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
    Ok(())
}
