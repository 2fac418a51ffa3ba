//! `update-agent-check-bundle`: checks one uploaded bundle for the local
//! upload interface of `update-agent` (see `update_agent::local`).
//!
//! A separate program so that the agent itself does not link OpenSSL and
//! the squashfs libraries: they would stay mapped in the daemon on every
//! device all the time, for a check that runs only when someone uploads a
//! bundle by hand. This process lives for the length of one check.
//!
//! ```text
//! update-agent-check-bundle --keyring PEM BUNDLE
//! ```
//! Checks the signature against the keyring (code-signing purpose), then
//! prints the manifest's `compatible` and `version` as one JSON object on
//! standard output and exits 0. On any failure it prints the reason on
//! standard error and exits 1; 2 for a wrong command line.

use std::io::Write;
use std::path::PathBuf;
use update_agent::local::CheckedBundle;

const USAGE: &str = "usage: update-agent-check-bundle --keyring PEM BUNDLE";

fn parse_args() -> Result<(PathBuf, PathBuf), String> {
    let (mut keyring, mut bundle) = (None, None);
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("--keyring") => {
                keyring = Some(PathBuf::from(args.next().ok_or("--keyring needs a file")?))
            }
            Some(s) if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ if bundle.is_none() => bundle = Some(PathBuf::from(a)),
            _ => return Err(format!("unexpected argument {a:?}")),
        }
    }
    Ok((
        keyring.ok_or("--keyring is required")?,
        bundle.ok_or("no bundle given")?,
    ))
}

fn check(keyring: &std::path::Path, bundle: &std::path::Path) -> Result<CheckedBundle, String> {
    let keyring = ota_bundle::Keyring::load(keyring).map_err(|e| e.to_string())?;
    let mut opts = ota_bundle::VerifyOptions::new(keyring);
    opts.purpose = ota_bundle::Purpose::Codesign;
    let mut b = ota_bundle::Bundle::open(bundle).map_err(|e| e.to_string())?;
    let info = b
        .inspect(Some(&opts), &mut ota_bundle::NoProgress)
        .map_err(|e| e.to_string())?;
    Ok(CheckedBundle {
        compatible: info.manifest.update.compatible,
        version: info.manifest.update.version,
    })
}

fn main() {
    let (keyring, bundle) = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("update-agent-check-bundle: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    match check(&keyring, &bundle) {
        Ok(c) => {
            let json = serde_json::to_string(&c).expect("serialisable");
            if writeln!(std::io::stdout(), "{json}").is_err() {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
