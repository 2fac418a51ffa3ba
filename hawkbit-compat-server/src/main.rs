//! `hawkbit-compat-server` binary: parse configuration, set up logging, serve until Ctrl-C or
//! SIGTERM.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use hawkbit_compat_server::config::{Cli, Command, Config};
use hawkbit_compat_server::startup::Application;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        // Logs go to stderr, so the output of `user list` on stdout stays clean.
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hawkbit-compat-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    let command = cli.command.take();
    let config = Config::load(cli).context("loading configuration")?;
    if let Some(Command::User(user)) = command {
        return hawkbit_compat_server::admin::run_user_command(
            user,
            &config,
            hawkbit_compat_server::admin::read_password_from_stdin,
            &mut std::io::stdout(),
        )
        .await;
    }
    let app = Application::build(config)
        .await
        .context("starting the server")?;
    app.run_until(shutdown_signal()).await.context("serving")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
