//! Fixtures for tests only (never a dependency of a shipped binary):
//! - [`pki`]: a root CA, an intermediate and signers of every kind a test
//!   needs (expired, not yet valid, wrong purpose, EC), made in process;
//! - [`data`]: deterministic sample images that compress like real ones;
//! - [`rauc`]: the real `rauc service` on a private D-Bus with file-backed
//!   slots and a scriptable bootloader, as on a device but without systemd.

pub mod data;
pub mod pki;
pub mod rauc;
