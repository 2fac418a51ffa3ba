//! The device update agent.
//!
//! A small daemon, separate from the product's application, so that a bad
//! application release can never stop the device from updating again. It
//! polls a hawkBit-compatible server (DDI), lets RAUC install into the
//! inactive slot, reboots, confirms the new slot with a health check or
//! goes back to the old one, and reports every outcome.
//!
//! How the parts fit:
//! - [`config`]: the TOML file (strict: unknown keys are errors);
//! - [`client`] and [`download`]: the DDI conversation and resumable
//!   downloads, with the wire types shared with the server (`ota-ddi`);
//! - [`installer`]: RAUC over D-Bus (the only module that speaks D-Bus);
//! - [`agent`]: the decisions, one poll at a time, and the confirmation
//!   after the reboot; [`state`] keeps what must survive the reboot;
//! - [`daemon`]: the loop around it, with [`local`] (manual uploads),
//!   [`control`] (the application postponing a reboot) and [`notify`]
//!   (systemd readiness and watchdog);
//! - [`devconfig`]: per-device configuration from the server, applied
//!   atomically for the application;
//! - [`exec`]: the one place other programs are run; [`backoff`]: retry
//!   timing that spreads a fleet out.
#![warn(missing_docs)]

pub mod agent;
pub mod backoff;
pub mod client;
pub mod config;
pub mod control;
pub mod daemon;
pub mod devconfig;
pub mod download;
pub mod exec;
pub mod installer;
pub mod local;
pub mod notify;
pub mod state;
