//! The optional user-consent flow: `.../confirmationBase[...]`.
//!
//! When a tenant enables confirmation, a new action first waits for the device (or its user) to
//! confirm it before it is offered as a deployment.

use serde::{Deserialize, Serialize};

use crate::{ActionHistory, ActionId, Deployment, Link};

/// `GET .../confirmationBase`: auto-confirm state and the action awaiting confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmationBase {
    /// Whether actions are confirmed automatically.
    pub auto_confirm: AutoConfirmStatus,
    /// Links to the waiting action and the auto-confirm switches.
    #[serde(rename = "_links", default)]
    pub links: ConfirmationLinks,
}

/// The `autoConfirm` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoConfirmStatus {
    /// Auto-confirm is on.
    pub active: bool,
    /// Who switched it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<String>,
    /// Why it was switched on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// When it was switched on, milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<i64>,
}

/// The `_links` of [`ConfirmationBase`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmationLinks {
    /// The action waiting for confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_base: Option<Link>,
    /// Switch auto-confirm on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activate_auto_confirm: Option<Link>,
    /// Switch auto-confirm off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivate_auto_confirm: Option<Link>,
}

/// `GET .../confirmationBase/{actionId}`: the action to confirm, shaped like a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmationBaseAction {
    /// The action id.
    pub id: ActionId,
    /// What would be deployed.
    pub confirmation: Deployment,
    /// Present only when requested with `?actionHistory=N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_history: Option<ActionHistory>,
}

/// `POST .../confirmationBase/{actionId}/feedback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationFeedback {
    /// The answer.
    pub confirmation: Confirmation,
    /// Device-specific code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// Free-form messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// The device's answer to a confirmation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confirmation {
    /// Go ahead.
    Confirmed,
    /// Do not install.
    Denied,
}

/// `POST .../confirmationBase/activateAutoConfirm` (the body is optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivateAutoConfirm {
    /// Who switches it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<String>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
}
