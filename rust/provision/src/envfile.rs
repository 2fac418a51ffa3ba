//! The manufacturing file the layer's first-boot script
//! (`meta-example/recipes-core/provisioning/files/example-provision`) reads:
//! `KEY=VALUE` lines, keys `SERIAL`, `HARDWARE_REVISION`, `TARGET_TOKEN`,
//! `#` comments, values taken literally (never sourced by a shell).
//! The script makes the serial the agent's controller id.

use std::collections::BTreeMap;

use crate::devices::Device;
use crate::token::Token;

/// Its name on the bootenv partition (`/bootenv/provisioning.env`) and on
/// the data partition (`/data/factory/provisioning.env`).
pub const FILE_NAME: &str = "provisioning.env";

/// The file's content for one device. `server` only goes into a comment:
/// the script has no key for it (the server URL is part of the image's
/// agent configuration).
pub fn render(device: &Device, token: &Token, server: Option<&str>) -> String {
    let mut out = String::from(
        "# Example Device OS manufacturing data, read once by example-provision at first boot.\n",
    );
    if let Some(server) = server {
        out.push_str(&format!("# registered on {server}\n"));
    }
    out.push_str(&format!("SERIAL={}\n", device.serial));
    out.push_str(&format!("HARDWARE_REVISION={}\n", device.hardware_revision));
    out.push_str(&format!("TARGET_TOKEN={}\n", token.expose()));
    out
}

/// Reads a file back the way the script does: the first `=` splits, `#`
/// lines and blank lines are skipped.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (l.to_owned(), l.to_owned()),
        })
        .collect()
}
