//! The `bundle-tool` command line: one module per subcommand under [`cmd`],
//! argument definitions in [`cli`], progress display in [`progress`]. The
//! work itself is done by the `ota-bundle` library; this crate turns flags
//! into its options and its results into text or JSON.
//!
//! Exit codes (documented in `--help` and the README):
//! - 0: success;
//! - 1: the bundle or an input is not acceptable (signature, manifest,
//!   payload, mismatching image, wrong format);
//! - 2: wrong usage (unknown flag, missing argument);
//! - 3: an operating-system problem (file not found, disk full, output
//!   already exists).

pub mod cli;
pub mod cmd;
pub mod progress;

use std::process::ExitCode;

/// Exit code for an unacceptable bundle or input.
pub const EXIT_INVALID: u8 = 1;
/// Exit code for wrong usage.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for an operating-system problem.
pub const EXIT_SYSTEM: u8 = 3;

/// Picks the exit code for an error from its cause.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<ota_bundle::Error>() {
            return match e {
                ota_bundle::Error::Io { .. } | ota_bundle::Error::OutputExists(_) => EXIT_SYSTEM,
                ota_bundle::Error::Squashfs(ota_bundle::squashfs::Error::Io { .. }) => EXIT_SYSTEM,
                _ => EXIT_INVALID,
            };
        }
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return EXIT_SYSTEM;
        }
        if cause.downcast_ref::<cli::UsageError>().is_some() {
            return EXIT_USAGE;
        }
    }
    EXIT_INVALID
}

/// Parses the command line, runs the command and reports errors.
pub fn main() -> ExitCode {
    use clap::Parser;
    let args = cli::Cli::parse();
    match cmd::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A closed pipe (e.g. `| head`) is not an error worth reporting.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("bundle-tool: error: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}
