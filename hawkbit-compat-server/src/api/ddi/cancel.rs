//! cancelAction and its feedback.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use ota_ddi::{ActionFeedback, CancelAction, CancelActionBase};

use super::deployment::apply_feedback;
use super::{ddi_id, DdiTarget};
use crate::api::{parse_json, ApiError, AppState};
use crate::lifecycle;
use crate::store::ActionState;

/// `GET .../cancelAction/{actionId}`: only while the action is being canceled.
pub(super) async fn cancel_action(
    State(state): State<AppState>,
    ddi: DdiTarget,
) -> Result<Json<CancelActionBase>, ApiError> {
    let action = ddi.own_action(&state).await?;
    if action.state != ActionState::Canceling {
        return Err(ApiError::NotFound);
    }
    let id = ddi_id(action.action_id);
    Ok(Json(CancelActionBase {
        id,
        cancel_action: CancelAction { stop_id: id },
    }))
}

/// `POST .../cancelAction/{actionId}/feedback`: `closed` accepts the cancellation, `rejected`
/// refuses it. 410 once the action is closed; 405 if no cancellation was requested (as in
/// hawkBit: the action exists but cannot take this report).
pub(super) async fn cancel_feedback(
    State(state): State<AppState>,
    ddi: DdiTarget,
    body: Bytes,
) -> Result<(), ApiError> {
    let action = ddi.own_open_action(&state).await?;
    if action.state != ActionState::Canceling {
        return Err(ApiError::MethodNotAllowed(
            "the action is not being canceled",
        ));
    }
    let fb: ActionFeedback = parse_json(&body)?;
    let transition = lifecycle::cancel_feedback(&fb.status);
    apply_feedback(&state, &action, &fb, transition).await
}
