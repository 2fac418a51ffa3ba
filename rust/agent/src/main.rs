//! `update-agent`: see the library crate for how it works.
//!
//! The command line is two flags, parsed by hand: an argument parser would
//! cost more resident memory on every device than the whole poll loop.
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

const USAGE: &str = "\
update-agent: keeps this device up to date. Polls the update server,
installs through RAUC, confirms the new system or falls back, reports.

Usage: update-agent [--config FILE] [--check-config]

  -c, --config FILE   configuration file (default /etc/update-agent/agent.toml,
                      or $UPDATE_AGENT_CONFIG)
      --check-config  check the configuration and exit
  -h, --help          this text
  -V, --version       the version

Logging: RUST_LOG=error|warn|info|debug|trace (default info).";

struct Cli {
    config: PathBuf,
    check_config: bool,
}

fn parse_args() -> Result<Option<Cli>, String> {
    let mut cli = Cli {
        config: std::env::var_os("UPDATE_AGENT_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc/update-agent/agent.toml")),
        check_config: false,
    };
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("-c" | "--config") => {
                cli.config = args
                    .next()
                    .map(PathBuf::from)
                    .ok_or("--config needs a file")?;
            }
            Some(s) if s.starts_with("--config=") => {
                cli.config = PathBuf::from(&s["--config=".len()..])
            }
            Some("--check-config") => cli.check_config = true,
            Some("-h" | "--help") => {
                // A closed pipe (`| head`) is not worth a panic.
                let _ = writeln!(std::io::stdout(), "{USAGE}");
                return Ok(None);
            }
            Some("-V" | "--version") => {
                let _ = writeln!(
                    std::io::stdout(),
                    "update-agent {}",
                    env!("CARGO_PKG_VERSION")
                );
                return Ok(None);
            }
            _ => return Err(format!("unexpected argument {a:?}\n\n{USAGE}")),
        }
    }
    Ok(Some(cli))
}

fn log_level() -> tracing_subscriber::filter::LevelFilter {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = match parse_args() {
        Ok(Some(c)) => c,
        Ok(None) => return Ok(()),
        Err(e) => {
            eprintln!("update-agent: {e}");
            std::process::exit(2);
        }
    };
    tracing_subscriber::fmt()
        .with_max_level(log_level())
        // The journal adds its own timestamps and shows colour codes as text.
        .without_time()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let cfg = update_agent::config::Config::load(&cli.config)?;
    if cli.check_config {
        println!("{}: OK", cli.config.display());
        return Ok(());
    }
    let daemon = update_agent::daemon::Daemon::build(cfg)
        .await
        .context("starting update-agent")?;
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    daemon.run(shutdown).await
}
