//! Agent tests against the real RAUC service (ota-testkit) and, later, the
//! real server.

mod consent;
mod e2e;
mod helpers;
mod installer;
mod proxy;
mod server;
