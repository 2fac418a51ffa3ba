//! Cancellation: `GET .../cancelAction/{actionId}`.

use serde::{Deserialize, Serialize};

use crate::ActionId;

/// The server asks the device to stop an action. The device answers with an
/// [`ActionFeedback`](crate::ActionFeedback) on `.../cancelAction/{id}/feedback`: `closed` accepts
/// the cancellation, `rejected` refuses it (the update goes on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelActionBase {
    /// Id of the cancel request (hawkBit uses the action id).
    pub id: ActionId,
    /// What to cancel.
    pub cancel_action: CancelAction,
}

/// The `cancelAction` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelAction {
    /// The action to stop.
    pub stop_id: ActionId,
}
