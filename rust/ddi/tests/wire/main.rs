//! Wire-format tests for every DDI type: golden JSON from the hawkBit DDI documentation shapes,
//! round trips, and proof that unknown fields are ignored at every level.

mod helpers;

mod cancel;
mod config_data;
mod confirmation;
mod deployment;
mod device_config;
mod feedback;
mod installed;
mod poll;
