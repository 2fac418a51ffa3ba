//! One module per subcommand; each exposes `run(args, progress)`.

mod create;
mod extract;
mod info;
mod signature;

use crate::cli::{Cli, Command, PurposeArg, UsageError, VerifyFlags};
use crate::progress::Bar;
use anyhow::{Context, Result};
use ota_bundle::{CheckTime, Keyring, Purpose, VerifyOptions};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let mut progress = Bar::new(cli.quiet);
    match cli.command {
        Command::Create(a) => create::run(a, &mut progress),
        Command::Info(a) => info::info(a, &mut progress),
        Command::Verify(a) => info::verify(a, &mut progress),
        Command::Extract(a) => extract::run(a, &mut progress),
        Command::Resign(a) => signature::resign(a, &mut progress),
        Command::ExtractSignature(a) => signature::extract(a, &mut progress),
        Command::ReplaceSignature(a) => signature::replace(a, &mut progress),
    }
}

pub(crate) fn purpose(p: PurposeArg) -> Purpose {
    match p {
        PurposeArg::Default => Purpose::Default,
        PurposeArg::Codesign => Purpose::Codesign,
        PurposeArg::Any => Purpose::Any,
        PurposeArg::Smimesign => Purpose::Named("smimesign".into()),
    }
}

/// Builds verification options; `None` when verification is switched off.
pub(crate) fn verify_options(
    flags: &VerifyFlags,
    no_verify: bool,
) -> Result<Option<VerifyOptions>> {
    if no_verify {
        return Ok(None);
    }
    let path = flags.keyring.as_ref().ok_or_else(|| {
        UsageError(
            "no keyring given: pass --keyring FILE|DIR (or --no-verify where offered)".into(),
        )
    })?;
    let keyring = Keyring::load(path)?;
    let mut o = VerifyOptions::new(keyring);
    o.purpose = purpose(flags.check_purpose);
    o.allow_partial_chain = flags.allow_partial_chain;
    o.check_time = if flags.no_check_time {
        CheckTime::Never
    } else if flags.use_signing_time {
        CheckTime::SigningTime
    } else {
        CheckTime::Now
    };
    Ok(Some(o))
}

pub(crate) fn required(o: Option<VerifyOptions>) -> Result<VerifyOptions> {
    o.ok_or_else(|| UsageError("verification cannot be switched off here".into()).into())
}

pub(crate) fn open(path: &std::path::Path) -> Result<ota_bundle::Bundle> {
    ota_bundle::Bundle::open(path).with_context(|| format!("opening bundle {}", path.display()))
}
