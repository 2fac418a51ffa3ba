//! RAUC-compatible update bundles: reading, checking, creating and signing.
//!
//! A bundle is `payload ‖ CMS signature ‖ u64 signature length`. The parts
//! of this crate follow that shape:
//!
//! - [`manifest`] (on top of [`keyfile`], RAUC's INI dialect) says what the
//!   bundle holds and for which devices;
//! - [`squashfs`] builds and reads the payload filesystem through libsquashfs;
//! - [`verity`] computes the dm-verity hash tree of verity bundles and the
//!   block hash index of adaptive images;
//! - [`signature`] makes and checks the CMS signature with OpenSSL, streaming
//!   the payload;
//! - [`Bundle`] opens a bundle and answers "is this genuine, and what is
//!   it?" at the depth asked; [`create()`], [`resign`] and
//!   [`replace_signature`] write bundles, always through [`output`] so that a
//!   failed write never leaves a partial file under the final name.
//!
//! The server uses [`Bundle::inspect`] on uploads, the device agent uses it
//! to pre-check a bundle uploaded over the local interface, and
//! `bundle-tool` exposes all of it on the command line.
#![warn(missing_docs)]

pub mod bundle;
pub mod create;
pub mod error;
pub mod keyfile;
pub mod manifest;
pub mod output;
pub mod signature;
pub mod squashfs;
pub mod verity;

pub use bundle::{Bundle, BundleInfo};
pub use create::{create, replace_signature, resign, Content, CreateOptions};
pub use error::{Error, Result};
pub use manifest::{Format, Manifest};
pub use signature::{CheckTime, Keyring, Purpose, Signer, VerifyOptions};

/// Receives progress of long operations (hashing, compressing, signing).
/// Every method has a do-nothing default, so callers implement only what
/// they show.
pub trait Progress {
    /// A new stage of `total` bytes begins.
    fn stage(&mut self, _name: &str, _total: u64) {}
    /// `done` bytes of the current stage are finished.
    fn advance(&mut self, _done: u64) {}
    /// The current stage ended.
    fn finish(&mut self) {}
}

/// Progress that is not shown.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
