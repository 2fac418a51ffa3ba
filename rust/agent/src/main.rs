//! `update-agent`: see the library crate for how it works.
use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;

/// Keeps this device up to date: polls the update server, installs through
/// RAUC, confirms the new system or falls back, reports every outcome.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file.
    #[arg(long, short, default_value = "/etc/update-agent/agent.toml", env = "UPDATE_AGENT_CONFIG")]
    config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    check_config: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .without_time()
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
