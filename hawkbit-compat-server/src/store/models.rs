//! Records the store reads and writes.

use std::fmt;
use std::str::FromStr;

use crate::secret::Secret;

/// Defines a text-stored enum with `as_str`, `Display` and `FromStr`.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            /// The stored (and API) spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($text => Ok($name::$variant),)+ _ => Err(()) }
            }
        }
    };
}

/// A device known to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Primary key.
    pub target_id: i64,
    /// The id the device uses in DDI paths.
    pub controller_id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Credential for `Authorization: TargetToken <token>`. Stored as given because operators
    /// need to read it back to provision devices (as in hawkBit).
    pub security_token: Secret,
    /// The server wants the device to send its attributes (`configData` link).
    pub request_attributes: bool,
    /// Last base poll, ms since the epoch.
    pub last_poll_at: Option<i64>,
    /// Creation time, ms since the epoch.
    pub created_at: i64,
}

/// Input for creating a target.
#[derive(Debug, Clone)]
pub struct NewTarget {
    /// Device id used in DDI paths.
    pub controller_id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Target token.
    pub security_token: Secret,
}

/// A software module: one installable unit (for us typically one RAUC bundle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwareModule {
    /// Primary key.
    pub software_module_id: i64,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Type key (`os`, `application`, `runtime`, ...); becomes the DDI chunk `part`.
    pub module_type: String,
    /// Vendor.
    pub vendor: String,
    /// Free text.
    pub description: String,
    /// Creation time.
    pub created_at: i64,
}

/// Input for creating a software module.
#[derive(Debug, Clone)]
pub struct NewSoftwareModule {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Type key.
    pub module_type: String,
    /// Vendor.
    pub vendor: String,
    /// Free text.
    pub description: String,
}

/// A metadata entry of a software module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleMetadata {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
    /// Sent to devices in the deployment chunk.
    pub target_visible: bool,
}

/// Metadata of one stored file; the content lives in the artifact store, addressed by sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Primary key.
    pub artifact_id: i64,
    /// Owning software module.
    pub software_module_id: i64,
    /// File name devices download it as.
    pub filename: String,
    /// SHA-1, lowercase hex.
    pub sha1: String,
    /// MD5, lowercase hex.
    pub md5: String,
    /// SHA-256, lowercase hex; also the content address.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Upload time.
    pub created_at: i64,
    /// Set for RAUC bundles, which are stored only after their signature was verified.
    pub bundle: Option<BundleMeta>,
}

/// What a verified RAUC bundle's manifest declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleMeta {
    /// `[update] compatible`: which devices the bundle is for.
    pub compatible: String,
    /// `[update] version`, if given.
    pub version: Option<String>,
}

/// Input for recording an artifact.
#[derive(Debug, Clone)]
pub struct NewArtifact {
    /// Owning software module.
    pub software_module_id: i64,
    /// File name.
    pub filename: String,
    /// SHA-1.
    pub sha1: String,
    /// MD5.
    pub md5: String,
    /// SHA-256.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Verified bundle metadata, for RAUC bundles.
    pub bundle: Option<BundleMeta>,
}

/// A release: the set of software modules a target should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributionSet {
    /// Primary key.
    pub distribution_set_id: i64,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Free text.
    pub description: String,
    /// Creation time.
    pub created_at: i64,
    /// Member software modules, ascending.
    pub module_ids: Vec<i64>,
}

/// Input for creating a distribution set.
#[derive(Debug, Clone)]
pub struct NewDistributionSet {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Free text.
    pub description: String,
    /// Member software modules.
    pub module_ids: Vec<i64>,
}

text_enum! {
    /// How urgently a target should install an assignment.
    ActionType {
        /// Download and install now.
        Forced = "forced",
        /// Install when the device sees fit.
        Soft = "soft",
        /// Download only; the action closes when the device reports `downloaded`.
        DownloadOnly = "downloadonly",
        /// Soft until the action's `forced_time`, forced from then on.
        TimeForced = "timeforced",
    }
}

text_enum! {
    /// Where an action is in its life.
    ActionState {
        /// Assigned and not finished.
        Running = "running",
        /// Assigned, but the device (its user) must confirm it first (consent flow).
        WaitForConfirmation = "wait_for_confirmation",
        /// The operator canceled it; waiting for the device to confirm.
        Canceling = "canceling",
        /// The device confirmed the cancellation.
        Canceled = "canceled",
        /// Installed successfully (or downloaded, for download-only actions).
        Finished = "finished",
        /// The device reported failure.
        Error = "error",
    }
}

impl ActionState {
    /// Whether an action in this state is still open (the device has something to do).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            ActionState::Running | ActionState::WaitForConfirmation | ActionState::Canceling
        )
    }
}

text_enum! {
    /// Kind of an entry in an action's status history (the names hawkBit reports in
    /// `actionHistory.status`, lowercased).
    HistoryStatus {
        /// The action was assigned or is in progress.
        Running = "running",
        /// The device fetched the deployment.
        Retrieved = "retrieved",
        /// The device started downloading.
        Download = "download",
        /// The device finished downloading.
        Downloaded = "downloaded",
        /// The device reported success.
        Finished = "finished",
        /// The device reported failure.
        Error = "error",
        /// Informational warning (for example the device rejected the action).
        Warning = "warning",
        /// The operator requested cancellation.
        Canceling = "canceling",
        /// The cancellation completed.
        Canceled = "canceled",
        /// The device refused to cancel.
        CancelRejected = "cancel_rejected",
        /// The device scheduled the work.
        Scheduled = "scheduled",
        /// The action waits for the device's confirmation (or the device denied it).
        WaitForConfirmation = "wait_for_confirmation",
    }
}

/// An action: one distribution set assigned to one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Primary key; the DDI action id.
    pub action_id: i64,
    /// The target.
    pub target_id: i64,
    /// What is assigned.
    pub distribution_set_id: i64,
    /// Urgency.
    pub action_type: ActionType,
    /// Life-cycle state.
    pub state: ActionState,
    /// Open (running or canceling).
    pub active: bool,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
    /// For time-forced actions: when they become forced (ms since the epoch).
    pub forced_time: Option<i64>,
    /// Priority among a target's actions, as given by the operator (kept and reported; with
    /// one open assignment per target it does not change what a device is told).
    pub weight: Option<i64>,
    /// When the device may install.
    pub maintenance: Option<MaintenanceWindow>,
}

/// An action's maintenance window as the operator gave it (see [`crate::schedule`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    /// Quartz cron expression of window starts.
    pub schedule: String,
    /// Window length, `HH:MM:SS`.
    pub duration: String,
    /// UTC offset of the schedule, `+HH:MM`.
    pub timezone: String,
}

/// How an assignment is made (beyond target and distribution set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignOptions {
    /// Urgency.
    pub action_type: ActionType,
    /// For time-forced actions: when they become forced.
    pub forced_time: Option<i64>,
    /// Priority, reported back.
    pub weight: Option<i64>,
    /// When the device may install.
    pub maintenance: Option<MaintenanceWindow>,
    /// The action waits for the device's confirmation, unless the target has auto-confirm
    /// on. Callers set it only when the consent flow is enabled.
    pub confirmation_required: bool,
}

impl AssignOptions {
    /// Just a type: no time, weight, window or confirmation.
    pub fn of_type(action_type: ActionType) -> Self {
        AssignOptions {
            action_type,
            forced_time: None,
            weight: None,
            maintenance: None,
            confirmation_required: false,
        }
    }
}

/// A target's auto-confirm switch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AutoConfirm {
    /// New actions skip waiting for confirmation.
    pub active: bool,
    /// Who switched it on.
    pub initiator: Option<String>,
    /// Why.
    pub remark: Option<String>,
    /// When (ms since the epoch).
    pub activated_at: Option<i64>,
}

impl Action {
    /// Where the action's maintenance window stands at `now`; `None` without a window. A
    /// stored schedule that no longer parses (it was checked when assigned) counts as lapsed,
    /// so the action is canceled rather than installed at an unintended time.
    pub fn maintenance_state(&self, now: i64) -> Option<crate::schedule::WindowState> {
        let m = self.maintenance.as_ref()?;
        Some(
            match crate::schedule::MaintenanceSchedule::parse(&m.schedule, &m.duration, &m.timezone)
            {
                Ok(s) => s.state_at(now),
                Err(_) => crate::schedule::WindowState::Lapsed,
            },
        )
    }

    /// When what a device is told about this action changes without a write: a time-forced
    /// action turning forced, a maintenance window opening or closing.
    pub fn next_change(&self, now: i64) -> Option<i64> {
        let forced = match self.action_type {
            ActionType::TimeForced => self.forced_time.filter(|&t| t > now),
            _ => None,
        };
        let window = match self.maintenance_state(now) {
            Some(crate::schedule::WindowState::Available { until }) => Some(until),
            Some(crate::schedule::WindowState::Unavailable { opens_at }) => Some(opens_at),
            Some(crate::schedule::WindowState::Lapsed) | None => None,
        };
        match (forced, window) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The type as the device should see it at `now`: a time-forced action is soft before its
    /// forced time and forced after it (or forced when it has no time).
    pub fn effective_type(&self, now: i64) -> ActionType {
        match (self.action_type, self.forced_time) {
            (ActionType::TimeForced, Some(t)) if now < t => ActionType::Soft,
            (ActionType::TimeForced, _) => ActionType::Forced,
            (other, _) => other,
        }
    }
}

/// One entry of an action's status history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionStatusEntry {
    /// Primary key (history order).
    pub action_status_id: i64,
    /// The action.
    pub action_id: i64,
    /// What happened.
    pub status: HistoryStatus,
    /// Device status code, if reported.
    pub code: Option<i64>,
    /// Messages (device `details` or server notes).
    pub messages: Vec<String>,
    /// When, ms since the epoch.
    pub occurred_at: i64,
}

/// A status entry to append to an action's history.
#[derive(Debug, Clone)]
pub struct NewStatusEntry {
    /// What happened.
    pub status: HistoryStatus,
    /// Device status code.
    pub code: Option<i64>,
    /// Messages.
    pub messages: Vec<String>,
    /// When.
    pub occurred_at: i64,
}

text_enum! {
    /// What an operator may do in the management API.
    Role {
        /// Everything, including operator accounts and target tokens.
        Admin = "admin",
        /// Read everything except target tokens; change nothing.
        ReadOnly = "readonly",
    }
}

/// An operator account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// Primary key.
    pub operator_id: i64,
    /// Login name.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Permissions.
    pub role: Role,
    /// Creation time.
    pub created_at: i64,
}
