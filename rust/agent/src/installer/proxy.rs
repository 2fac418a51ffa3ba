//! The typed proxy for RAUC's `de.pengutronix.rauc.Installer` interface
//! (RAUC 1.8 and later). Signatures follow the interface RAUC publishes
//! over introspection; members added after 1.8 are not declared here, and
//! [`super::Capabilities`] says whether the running service has them.

use std::collections::HashMap;
use zbus::zvariant::{OwnedValue, Value};

/// RAUC's installer interface on `de.pengutronix.rauc`, object `/`.
#[zbus::proxy(
    interface = "de.pengutronix.rauc.Installer",
    default_service = "de.pengutronix.rauc",
    default_path = "/"
)]
pub trait Installer {
    /// Starts installing `source` (a path or, for verity bundles, a URL);
    /// returns at once. The outcome arrives as the `Completed` signal.
    fn install_bundle(&self, source: &str, args: HashMap<&str, Value<'_>>) -> zbus::Result<()>;

    /// Verifies a bundle and returns its compatible and version.
    fn info(&self, bundle: &str) -> zbus::Result<(String, String)>;

    /// Marks a slot `good`, `bad` or `active`; `slot_identifier` is
    /// `booted`, `other` or a slot name. Returns the slot name and a message.
    fn mark(&self, state: &str, slot_identifier: &str) -> zbus::Result<(String, String)>;

    /// Every slot with its status fields.
    fn get_slot_status(&self) -> zbus::Result<Vec<(String, HashMap<String, OwnedValue>)>>;

    /// The slot the bootloader will boot next.
    fn get_primary(&self) -> zbus::Result<String>;

    /// Emitted when an installation ends: 0 on success.
    #[zbus(signal)]
    fn completed(&self, result: i32) -> zbus::Result<()>;

    /// `idle` or `installing`.
    #[zbus(property)]
    fn operation(&self) -> zbus::Result<String>;

    /// The last installation error, empty if none.
    #[zbus(property)]
    fn last_error(&self) -> zbus::Result<String>;

    /// (percentage, message, nesting depth) of the running installation.
    #[zbus(property)]
    fn progress(&self) -> zbus::Result<(i32, String, i32)>;

    /// The system's compatible string.
    #[zbus(property)]
    fn compatible(&self) -> zbus::Result<String>;

    /// The system's variant (hardware revision).
    #[zbus(property)]
    fn variant(&self) -> zbus::Result<String>;

    /// The bootname of the booted slot.
    #[zbus(property)]
    fn boot_slot(&self) -> zbus::Result<String>;
}
