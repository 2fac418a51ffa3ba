//! Integration tests of the server: the store suite (run on SQLite and PostgreSQL) and the HTTP
//! API against the real server on an ephemeral port. One binary, so helpers are compiled once.

mod helpers;

mod bundles;
mod ddi_auth;
mod ddi_cancel;
mod ddi_deployment;
mod ddi_download;
mod ddi_poll;
mod mgmt;
mod store;
