//! Per-device configuration, an extension of DDI v1 (not part of hawkBit).
//!
//! The base poll carries `_links.deviceConfig` (see [`crate::Links::device_config`]) only while
//! the device has not confirmed the current revision of its configuration. The device then
//!
//! 1. fetches `GET .../deviceConfig` ([`crate::paths::device_config`]): a [`DeviceConfig`], with
//!    an `ETag` so a repeated fetch can send `If-None-Match` and get `304 Not Modified`;
//! 2. applies it, and
//! 3. confirms with `PUT .../deviceConfig/applied` ([`crate::paths::device_config_applied`]): an
//!    [`AppliedConfig`], with `error` set when it could not apply the revision.
//!
//! Clients that do not know the extension ignore the unknown link relation, as DDI clients do.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET .../deviceConfig`: the device's merged configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceConfig {
    /// Revision of this configuration; increases whenever the configuration changes.
    pub revision: u64,
    /// Key to value. Values may be secrets (passwords, tokens): agents must not log them.
    pub config: BTreeMap<String, String>,
}

/// `PUT .../deviceConfig/applied`: the device's report on a revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedConfig {
    /// The revision the report is about.
    pub revision: u64,
    /// Why the revision could not be applied; absent when it was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl AppliedConfig {
    /// The revision was applied.
    pub fn applied(revision: u64) -> Self {
        AppliedConfig {
            revision,
            error: None,
        }
    }

    /// The revision could not be applied.
    pub fn failed(revision: u64, error: impl Into<String>) -> Self {
        AppliedConfig {
            revision,
            error: Some(error.into()),
        }
    }
}
