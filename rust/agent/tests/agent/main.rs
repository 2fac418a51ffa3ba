//! Agent tests against the real RAUC service (ota-testkit) and, later, the
//! real server.

mod helpers;
mod e2e;
mod installer;
mod proxy;
mod server;
