//! Integration tests of the server: the store suite (run on SQLite and PostgreSQL) and the HTTP
//! API against the real server on an ephemeral port. One binary, so helpers are compiled once.

mod helpers;

mod bad_input;
mod bundles;
mod crash;
mod ddi_auth;
mod ddi_cancel;
mod ddi_confirmation;
mod ddi_deployment;
mod ddi_download;
mod ddi_maintenance;
mod ddi_poll;
mod device_config;
mod downgrade;
mod mgmt;
mod ops;
mod peer_client;
mod process;
mod rollout_api;
mod rollouts;
mod store;
