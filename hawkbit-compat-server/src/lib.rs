//! An update server that speaks the hawkBit DDI API to devices.
//!
//! # Layout
//!
//! * [`config`]: command line, environment and TOML file, merged into one [`config::Config`].
//! * [`startup`]: builds the [`startup::Application`] (database, artifact folder, listener)
//!   and runs it until a shutdown signal.
//! * [`api`]: the HTTP layer. [`api::ddi`] is the device API, with wire types from `ota-ddi`;
//!   one error type ([`api::ApiError`]) turns failures into responses without leaking internals.
//! * [`lifecycle`]: what device feedback does to an action, free of HTTP and SQL.
//! * [`rollout`]: target queries ([`rollout::fiql`]), the rollout engine ([`rollout::tick`])
//!   with its state machines, and auto-assignment.
//! * [`store`]: all SQL; SQLite by default, PostgreSQL by URL; embedded migrations.
//! * [`artifacts`]: content-addressed artifact files with crash-safe writes.
//! * [`admin`]: the `user` subcommands (operator accounts from the shell).
//! * [`versions`]: version ordering for the downgrade guard of assignments.
//! * [`secret`]: credentials whose `Debug` output is redacted; [`password`]: operator
//!   password hashing.
//!
//! `main.rs` only parses the command line, sets up logging and calls [`startup`], so the whole
//! server can be started in-process by the integration tests.
#![warn(missing_docs)]

pub mod admin;
pub mod api;
pub mod artifacts;
pub mod config;
pub mod lifecycle;
pub mod password;
pub mod rollout;
pub mod schedule;
pub mod secret;
pub mod startup;
pub mod store;
pub mod versions;
