//! The user-consent flow: `confirmationBase`, the answer to it, and auto-confirm.
//!
//! With the flow enabled (`confirmation_flow`), a new action first waits for the device (in
//! practice its user, through the application) to confirm it; the base poll then links
//! `confirmationBase/{actionId}` instead of `deploymentBase`. A device whose user agreed once
//! for all switches auto-confirm on, which confirms what waits and lets later actions run at
//! once.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use ota_ddi::{
    paths, ActivateAutoConfirm, AutoConfirmStatus, Confirmation, ConfirmationBase,
    ConfirmationBaseAction, ConfirmationFeedback, ConfirmationLinks, Link,
};

use super::deployment::{describe_in_state, DeploymentQuery};
use super::poll::cache_key;
use super::{ddi_id, DdiTarget};
use crate::api::{base_url, parse_json, ApiError, AppState};
use crate::store::{self, ActionState};

/// `GET .../confirmationBase`: the auto-confirm state, the switch to flip it, and the action
/// waiting for confirmation, if any.
pub(super) async fn confirmation_base(
    State(state): State<AppState>,
    ddi: DdiTarget,
    headers: HeaderMap,
) -> Result<Json<ConfirmationBase>, ApiError> {
    let target_id = ddi.target.target_id;
    let auto = state.store.auto_confirm(target_id).await?;
    let waiting = state
        .store
        .active_actions(target_id)
        .await?
        .into_iter()
        .find(|a| a.state == ActionState::WaitForConfirmation);
    let base = base_url(&state.config, &headers);
    let (tenant, cid) = (ddi.tenant.as_str(), ddi.controller_id());
    let link = |path: String| Some(Link::new(format!("{base}{path}")));
    let links = ConfirmationLinks {
        confirmation_base: waiting.as_ref().and_then(|a| {
            link(paths::confirmation_base_action(
                tenant,
                cid,
                ddi_id(a.action_id),
                cache_key(a),
            ))
        }),
        activate_auto_confirm: if auto.active {
            None
        } else {
            link(paths::activate_auto_confirm(tenant, cid))
        },
        deactivate_auto_confirm: if auto.active {
            link(paths::deactivate_auto_confirm(tenant, cid))
        } else {
            None
        },
    };
    Ok(Json(ConfirmationBase {
        auto_confirm: AutoConfirmStatus {
            active: auto.active,
            initiator: auto.initiator,
            remark: auto.remark,
            activated_at: auto.activated_at,
        },
        links,
    }))
}

/// `GET .../confirmationBase/{actionId}`: what the action would deploy, while it waits.
pub(super) async fn confirmation_action(
    State(state): State<AppState>,
    ddi: DdiTarget,
    Query(q): Query<DeploymentQuery>,
    headers: HeaderMap,
) -> Result<Json<ConfirmationBaseAction>, ApiError> {
    let body =
        describe_in_state(&state, &ddi, ActionState::WaitForConfirmation, &q, &headers).await?;
    Ok(Json(ConfirmationBaseAction {
        id: body.id,
        confirmation: body.deployment,
        action_history: body.action_history,
    }))
}

/// `POST .../confirmationBase/{actionId}/feedback`: `confirmed` lets the action run, `denied`
/// keeps it waiting with the reason recorded. 410 once closed, 404 if it does not wait.
pub(super) async fn confirmation_feedback(
    State(state): State<AppState>,
    ddi: DdiTarget,
    body: Bytes,
) -> Result<(), ApiError> {
    let action = ddi.own_open_action(&state).await?;
    if action.state != ActionState::WaitForConfirmation {
        return Err(ApiError::NotFound);
    }
    let fb: ConfirmationFeedback = parse_json(&body)?;
    let details = fb
        .details
        .into_iter()
        .take(super::deployment::MAX_MESSAGES)
        .collect();
    // Changed concurrently: closed, or confirmed by the operator.
    super::closed_meanwhile(
        state
            .store
            .confirm_action(
                action.action_id,
                fb.confirmation == Confirmation::Confirmed,
                fb.code,
                details,
            )
            .await,
    )
}

/// `POST .../confirmationBase/activateAutoConfirm` (body optional): 409 if already on.
pub(super) async fn activate_auto_confirm(
    State(state): State<AppState>,
    ddi: DdiTarget,
    body: Bytes,
) -> Result<(), ApiError> {
    let req: ActivateAutoConfirm = if body.iter().all(u8::is_ascii_whitespace) {
        ActivateAutoConfirm::default()
    } else {
        parse_json(&body)?
    };
    let initiator = req
        .initiator
        .unwrap_or_else(|| ddi.controller_id().to_owned());
    match state
        .store
        .set_auto_confirm(
            ddi.target.target_id,
            Some((Some(initiator.as_str()), req.remark.as_deref())),
        )
        .await
    {
        Ok(()) => Ok(()),
        Err(store::Error::InvalidState(m)) => Err(ApiError::Conflict(m.into())),
        Err(e) => Err(e.into()),
    }
}

/// `POST .../confirmationBase/deactivateAutoConfirm`.
pub(super) async fn deactivate_auto_confirm(
    State(state): State<AppState>,
    ddi: DdiTarget,
) -> Result<(), ApiError> {
    state
        .store
        .set_auto_confirm(ddi.target.target_id, None)
        .await?;
    Ok(())
}
