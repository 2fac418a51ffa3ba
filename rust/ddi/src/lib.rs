//! Wire types and URL paths of the hawkBit *Direct Device Integration* (DDI) API, version 1.
//!
//! DDI is the HTTP/JSON protocol that devices use to poll an update server. This crate holds
//! **only** the protocol: serde types and path builders, no HTTP stack. Both ends of the wire
//! depend on it, the `hawkbit-compat-server` and the device agent, so the JSON the server writes
//! and the JSON the agent reads come from one definition and cannot drift apart.
//!
//! # Brief overview
//!
//! A device's conversation with the server, and the types that model each step:
//!
//! 1. **Poll** `GET /{tenant}/controller/v1/{controllerId}` answers a [`ControllerBase`]: how
//!    long to sleep ([`PollingSleep`], strict `HH:MM:SS`) and a set of [`Links`] that say what
//!    the server wants next.
//! 2. **Attributes**: if the `configData` link is present the device sends a [`ConfigData`]
//!    (`PUT .../configData`).
//! 3. **Deployment**: the `deploymentBase` link leads to a [`DeploymentBase`] describing what to
//!    download and install ([`Deployment`], [`Chunk`], [`Artifact`]). The same shape is served for
//!    the last finished action under `installedBase`.
//! 4. **Feedback**: the device reports progress and the outcome with an [`ActionFeedback`]
//!    (`POST .../deploymentBase/{id}/feedback`).
//! 5. **Cancel**: the `cancelAction` link leads to a [`CancelActionBase`]; the device answers
//!    with an [`ActionFeedback`] on `.../cancelAction/{id}/feedback`.
//! 6. **Confirmation** (optional user-consent flow): [`ConfirmationBase`],
//!    [`ConfirmationBaseAction`], [`ConfirmationFeedback`].
//! 7. **Device configuration** (an extension of this server, not hawkBit): the
//!    `deviceConfig` link leads to a [`DeviceConfig`]; the device confirms with an
//!    [`AppliedConfig`].
//!
//! [`paths`] builds every URL path of the API, so the server's routes and the agent's requests
//! agree; [`paths::route`] holds the matching route templates for the server's router.
//!
//! # Compatibility rules
//!
//! * **Inbound types never reject unknown fields.** Real clients send legacy fields that are not
//!   in the schema (`id`, `time`, `status` in configData; `id` as number *or* string in feedback),
//!   and a newer server may add fields an older agent does not know. Every type has a test that
//!   proves unknown fields are ignored.
//! * Optional fields that hawkBit omits when empty are omitted here too
//!   (`skip_serializing_if`), because some clients test for the presence of a key.
//! * Values whose misreading is dangerous are parsed strictly: a malformed polling interval is
//!   an [`Error`], never a silent zero (which would make a fleet hammer the server).
//!
//! # Versioning
//!
//! The types follow the DDI v1 contract. Adding an optional field is not a breaking change for
//! the wire; removing or renaming one is, and needs a new DDI version.
#![warn(missing_docs)]

mod cancel;
mod config_data;
mod confirmation;
mod deployment;
mod device_config;
mod error;
mod feedback;
mod ids;
mod installed;
pub mod paths;
mod poll;

pub use cancel::{CancelAction, CancelActionBase};
pub use config_data::{ConfigData, UpdateMode};
pub use confirmation::{
    ActivateAutoConfirm, AutoConfirmStatus, Confirmation, ConfirmationBase, ConfirmationBaseAction,
    ConfirmationFeedback, ConfirmationLinks,
};
pub use deployment::{
    ActionHistory, Artifact, ArtifactLinks, ArtifactList, Chunk, ChunkMetadata, Deployment,
    DeploymentBase, HandlingType, Hashes, MaintenanceWindow,
};
pub use device_config::{AppliedConfig, DeviceConfig};
pub use error::Error;
pub use feedback::{
    ActionFeedback, Execution, FeedbackResult, Finished, LegacyId, Progress, Status,
};
pub use ids::ActionId;
pub use installed::InstalledBase;
pub use poll::{ControllerBase, ControllerConfig, Link, Links, Polling, PollingSleep};
