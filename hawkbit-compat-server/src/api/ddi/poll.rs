//! Base poll and configData.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use ota_ddi::{paths, ConfigData, ControllerBase, ControllerConfig, Link, Links, Polling};

use super::poll_view::{Freshness, OpenKind, PollView, PollViews, ViewLinks};
use super::{ddi_id, DdiRequest, DdiTarget};
use crate::api::{base_url, parse_json, ApiError, AppState};
use crate::schedule::WindowState;
use crate::store::{now_ms, Action, ActionState, ActionType, Backend};

/// The `?c=` value of a deploymentBase link. It changes whenever the answer behind the link
/// would change (another action, another handling type, a maintenance window opening or
/// closing), so caches keyed on the URL miss.
/// The Python rauc-hawkbit client requires the parameter to be present.
pub(crate) fn cache_key(action: &Action) -> i64 {
    let now = now_ms();
    let salt = match action.effective_type(now) {
        ActionType::Forced | ActionType::TimeForced => 1231,
        ActionType::Soft => 1237,
        ActionType::DownloadOnly => 1249,
    };
    // A closed maintenance window changes `update` to skip: another URL.
    let closed = matches!(
        action.maintenance_state(now),
        Some(WindowState::Unavailable { .. } | WindowState::Lapsed)
    );
    action
        .action_id
        .wrapping_mul(31)
        .wrapping_add(salt)
        .wrapping_add(if closed { 7 } else { 0 })
}

/// `GET /{tenant}/controller/v1/{controllerId}`
///
/// Links: `cancelAction` if the oldest open action is being canceled, `confirmationBase` if it
/// waits for confirmation, else `deploymentBase` for it; `installedBase` for the last installed action; `configData` while the server wants the
/// device's attributes (new device, or after an update); `deviceConfig` (extension) while the
/// device has not confirmed the current revision of its configuration.
///
/// Answered from the device's [`PollView`] while no write has happened since it was read;
/// otherwise read from the database and kept.
pub(super) async fn base_poll(
    State(state): State<AppState>,
    Extension(views): Extension<Arc<PollViews>>,
    req: DdiRequest,
    headers: HeaderMap,
) -> Result<Json<ControllerBase>, ApiError> {
    let now = now_ms();
    let freshness = Freshness {
        generation: state.store.generation(),
        max_age: match state.store.backend() {
            Backend::Sqlite => None,
            Backend::Postgres => Some(Duration::from_millis(state.config.poll_cache_ms.into())),
        },
        now_ms: now,
    };
    let view = match views.get(&req.controller_id, freshness, |id| {
        state.store.target_generation(id)
    }) {
        Some(view) if req.admits(&view.token, &state) => view,
        Some(_) => return Err(super::unauthorized()),
        None => {
            let view = Arc::new(read_view(&state, &req, freshness).await?);
            views.put(&req.controller_id, view.clone(), freshness);
            view
        }
    };
    state.store.touch_target(view.target_id, now).await?;
    Ok(Json(ControllerBase {
        config: ControllerConfig {
            polling: Polling {
                sleep: state.config.poll_interval,
            },
        },
        links: links(&view.links, &base_url(&state.config, &headers), &req),
    }))
}

/// Reads what a base poll answers from the database (and does what a first contact implies).
async fn read_view(
    state: &AppState,
    req: &DdiRequest,
    freshness: Freshness,
) -> Result<PollView, ApiError> {
    let now = freshness.now_ms;
    let mut generation = freshness.generation;
    let found = req.authenticate(state).await?;
    if found.last_poll_at.is_none() {
        // First contact: the device counts as registered from now on (filters on the update
        // status see it at once), and auto-assignments apply before it sees its links. The
        // view is read after these writes, so it is not stale from the start.
        state.store.record_first_poll(found.target_id, now).await?;
        crate::rollout::auto_assign_target(&state.store, found.target_id, now).await?;
        generation = state.store.generation();
    }
    // The target's generation can only be noted once its id is known, so the target is read
    // again after noting it: the token and flags kept must not be older than the generation.
    let target_generation = state.store.target_generation(found.target_id);
    let target = req.authenticate(state).await?;
    if target.target_id != found.target_id {
        // Deleted and registered again meanwhile: answer, but keep nothing.
        generation = u64::MAX;
    }
    let (mut open_action, mut last_done) = state.store.poll_actions(target.target_id).await?;
    if let Some(a) = &open_action {
        if a.state == ActionState::Running && a.maintenance_state(now) == Some(WindowState::Lapsed)
        {
            // No window will ever open: cancel, as hawkBit does, and tell the device so.
            match state
                .store
                .request_cancel_because(a.action_id, "maintenance window schedule has lapsed")
                .await
            {
                Ok(_) | Err(crate::store::Error::InvalidState(_)) => {}
                Err(e) => return Err(e.into()),
            }
            (open_action, last_done) = state.store.poll_actions(target.target_id).await?;
        }
    }
    let (config, _) = state.store.refresh_device_config(target.target_id).await?;
    let expires_at_ms = open_action.as_ref().and_then(|a| a.next_change(now));
    Ok(PollView {
        generation,
        target_generation,
        read_at: Instant::now(),
        expires_at_ms,
        target_id: target.target_id,
        links: ViewLinks {
            open_action: open_action.map(|a| {
                let kind = match a.state {
                    ActionState::Canceling => OpenKind::Cancel,
                    ActionState::WaitForConfirmation => OpenKind::Confirm,
                    _ => OpenKind::Deploy,
                };
                (a.action_id, kind, cache_key(&a))
            }),
            installed: last_done.map(|a| a.action_id),
            config_data: target.request_attributes,
            device_config: config.applied_revision < config.revision,
        },
        token: target.security_token,
    })
}

/// The links of a view, made absolute for this request.
fn links(view: &ViewLinks, base: &str, req: &DdiRequest) -> Links {
    let (tenant, cid) = (req.tenant.as_str(), req.controller_id.as_str());
    let link = |path: String| Some(Link::new(format!("{base}{path}")));
    let mut links = Links::default();
    if let Some((id, kind, c)) = view.open_action {
        let id = ddi_id(id);
        match kind {
            OpenKind::Cancel => links.cancel_action = link(paths::cancel_action(tenant, cid, id)),
            OpenKind::Confirm => {
                links.confirmation_base = link(paths::confirmation_base_action(tenant, cid, id, c));
            }
            OpenKind::Deploy => {
                links.deployment_base = link(paths::deployment_base(tenant, cid, id, c));
            }
        }
    }
    if let Some(id) = view.installed {
        links.installed_base = link(paths::installed_base(tenant, cid, ddi_id(id)));
    }
    if view.config_data {
        links.config_data = link(paths::config_data(tenant, cid));
    }
    if view.device_config {
        links.device_config = link(paths::device_config(tenant, cid));
    }
    links
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
