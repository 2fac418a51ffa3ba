//! What to install: `GET .../deploymentBase/{actionId}` (and `.../installedBase/{actionId}`).

use serde::{Deserialize, Serialize};

use crate::{ActionId, Link};

/// An action as the device sees it: what to download and install, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentBase {
    /// The action id (a string on the wire).
    pub id: ActionId,
    /// The update itself.
    pub deployment: Deployment,
    /// Recent server-side history of the action, only when the device asked for it with
    /// `?actionHistory=N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_history: Option<ActionHistory>,
}

/// The `deployment` object: handling hints plus the software to install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Whether and how urgently to download.
    pub download: HandlingType,
    /// Whether and how urgently to install. `skip` for download-only actions and outside a
    /// maintenance window.
    pub update: HandlingType,
    /// Present only when the action has a maintenance schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<MaintenanceWindow>,
    /// One chunk per software module of the distribution set.
    #[serde(default)]
    pub chunks: Vec<Chunk>,
}

/// How a step of the deployment should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandlingType {
    /// Do not perform the step (yet).
    Skip,
    /// Perform the step when convenient (a "soft" update; the device may ask the user).
    Attempt,
    /// Perform the step now.
    Forced,
}

/// Whether the action's maintenance window is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaintenanceWindow {
    /// The window is open; installing is allowed.
    Available,
    /// The window is closed; download only.
    Unavailable,
}

/// One software module to install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The software module type key (`os`, or legacy names `bApp` and `jvm`).
    pub part: String,
    /// Version of the software module.
    pub version: String,
    /// Name of the software module.
    pub name: String,
    /// Present (and `true`) only when the artifacts are encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    /// Software-module metadata the operator marked as visible to targets; omitted when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Vec<ChunkMetadata>>,
    /// Files of the software module.
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
}

/// A key/value entry of [`Chunk::metadata`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkMetadata {
    /// Metadata key.
    pub key: String,
    /// Metadata value.
    pub value: String,
}

/// One downloadable file.
///
/// Also the element type of the artifact listing `GET .../softwaremodules/{id}/artifacts`
/// (see [`ArtifactList`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// File name, also the last path segment of the download URL.
    pub filename: String,
    /// Checksums of the content. rauc-hawkbit-updater needs `sha1`, the Python rauc-hawkbit
    /// client needs `md5`, so a server should fill all three.
    pub hashes: Hashes,
    /// Size in bytes.
    pub size: u64,
    /// Where to download the file.
    #[serde(rename = "_links", default)]
    pub links: ArtifactLinks,
}

/// The artifact listing: `GET .../softwaremodules/{softwareModuleId}/artifacts`.
pub type ArtifactList = Vec<Artifact>;

/// Checksums of an artifact, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hashes {
    /// SHA-1.
    pub sha1: String,
    /// MD5.
    pub md5: String,
    /// SHA-256; hawkBit omits it for artifacts uploaded before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Download links of an artifact. `download`/`md5sum` are the HTTPS variants,
/// `download-http`/`md5sum-http` the plain HTTP ones; a server sends the ones it serves.
/// Clients prefer `download` and fall back to `download-http`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactLinks {
    /// HTTPS download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<Link>,
    /// HTTP download.
    #[serde(
        rename = "download-http",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub download_http: Option<Link>,
    /// HTTPS `.MD5SUM` file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5sum: Option<Link>,
    /// HTTP `.MD5SUM` file.
    #[serde(
        rename = "md5sum-http",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub md5sum_http: Option<Link>,
}

impl ArtifactLinks {
    /// The download link a client should follow: `download`, else `download-http`.
    pub fn preferred_download(&self) -> Option<&Link> {
        self.download.as_ref().or(self.download_http.as_ref())
    }
}

/// Server-side history of an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionHistory {
    /// The action's server-side status name (for example `RUNNING`).
    pub status: String,
    /// Status messages, newest first.
    #[serde(default)]
    pub messages: Vec<String>,
}
