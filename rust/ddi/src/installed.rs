//! The installed base.
//!
//! `GET .../installedBase/{actionId}` re-serves the last finished action in the shape of a
//! [`DeploymentBase`](crate::DeploymentBase). This module holds the body of the experimental
//! `PUT .../installedBase`, with which a device reports a version installed outside the server
//! ("offline assigned version").

use serde::{Deserialize, Serialize};

/// The distribution set the device reports as installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledBase {
    /// Distribution set name.
    pub name: String,
    /// Distribution set version.
    pub version: String,
}
