//! The long-running part: connects everything, then repeats
//! [`Daemon::tick`] (one poll, the reboot if one is due, back-off after
//! failures) until told to stop. Tests call `tick` directly.

use crate::agent::{Agent, Step};
use crate::client::{Auth, DdiClient};
use crate::config::Config;
use crate::installer::Installer;
use crate::state::StateDir;
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tracing::{info, warn};

fn read_secret(path: &std::path::Path, what: &str) -> anyhow::Result<String> {
    let s = std::fs::read_to_string(path)
        .with_context(|| format!("reading {what} from {}", path.display()))?;
    let s = s.trim().to_string();
    anyhow::ensure!(!s.is_empty(), "{what} file {} is empty", path.display());
    Ok(s)
}

/// The running agent.
pub struct Daemon {
    agent: Arc<Mutex<Agent>>,
    cfg: Config,
    last_error: std::sync::Mutex<Option<String>>,
}

impl Daemon {
    /// Connects to RAUC and prepares the client from the configuration.
    pub async fn build(cfg: Config) -> anyhow::Result<Daemon> {
        let controller_id = match (&cfg.server.controller_id, &cfg.server.controller_id_file) {
            (Some(id), _) => id.clone(),
            (None, Some(p)) => read_secret(p, "controller id")?,
            (None, None) => anyhow::bail!("no controller id configured"),
        };
        let auth = match (&cfg.server.token_file, &cfg.server.gateway_token_file) {
            (Some(p), _) => Auth::Target(read_secret(p, "target token")?),
            (None, Some(p)) => Auth::Gateway(read_secret(p, "gateway token")?),
            (None, None) => Auth::None,
        };
        let ca = match &cfg.server.ca_file {
            Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
            None => None,
        };
        let client = DdiClient::new(
            &cfg.server.url,
            &cfg.server.tenant,
            &controller_id,
            auth,
            ca.as_deref(),
            cfg.server.request_timeout,
        )
        .context("setting up the HTTP client")?;
        let rauc = Installer::connect(&cfg.install.rauc_bus)
            .await
            .context("connecting to the RAUC service")?;
        let state =
            StateDir::open(&cfg.install.state_dir).context("opening the state directory")?;
        let agent = Agent::new(cfg.clone(), client, rauc, state);
        Ok(Daemon {
            agent: Arc::new(Mutex::new(agent)),
            cfg,
            last_error: std::sync::Mutex::new(None),
        })
    }

    /// Shared access to the agent (the local upload interface uses it).
    pub fn agent(&self) -> Arc<Mutex<Agent>> {
        self.agent.clone()
    }

    /// Settles an update pending across the reboot. Reboots back to the old
    /// slot if the new one failed its health check.
    pub async fn start(&self) -> anyhow::Result<()> {
        let mut a = self.agent.lock().await;
        if a.after_boot()
            .await
            .context("confirming the update after boot")?
        {
            a.reboot_if_allowed().await?;
        }
        Ok(())
    }

    /// One step: a poll (or a retry after back-off) and a due reboot.
    /// Returns how long to wait before the next step.
    pub async fn tick(&self) -> (Option<Step>, Duration) {
        let mut a = self.agent.lock().await;
        let (step, wait) = match a.poll_once().await {
            Ok((step, sleep)) => {
                info!(?step, next_poll = ?sleep, "poll");
                (Some(step), sleep)
            }
            Err(e) => {
                let wait = a.next_backoff();
                warn!(error = %e, retry_in = ?wait, "poll failed");
                *self.last_error.lock().expect("error lock") = Some(e.to_string());
                (None, wait)
            }
        };
        if a.reboot_requested() {
            match a.reboot_if_allowed().await {
                Ok(true) => {}
                Ok(false) => return (step, wait.min(Duration::from_secs(10))),
                Err(e) => warn!(error = %e, "reboot failed"),
            }
        }
        (step, wait)
    }

    /// The error of the last failed step, for diagnostics.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("error lock").clone()
    }

    /// Runs until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        self.start().await?;
        let agent = self.agent.clone();
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(local) = self.cfg.local.clone() {
            let token = read_secret(&local.token_file, "local upload token")?;
            let checker = crate::local::checker_path(&local);
            if checker.parent().is_some_and(|d| !d.as_os_str().is_empty()) && !checker.is_file() {
                warn!(checker = %checker.display(), "the bundle checker is missing: local uploads will be refused");
            }
            let listener = tokio::net::TcpListener::bind(&local.listen)
                .await
                .with_context(|| format!("listening on {}", local.listen))?;
            let app = crate::local::router(agent.clone(), local, token);
            tasks.spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    warn!(error = %e, "local upload interface stopped");
                }
            });
        }
        if let Some(sock) = self.cfg.reboot.control_socket.clone() {
            let (deferral, consent) = {
                let a = agent.lock().await;
                (a.defer.clone(), a.consent.clone())
            };
            // Updates go on without the socket: the application loses its
            // say (deferral, consent), not the device its updates.
            match crate::control::bind(&sock) {
                Ok(listener) => {
                    tasks.spawn(async move {
                        if let Err(e) = crate::control::serve(listener, deferral, consent).await {
                            warn!(error = %e, "control socket stopped");
                        }
                    });
                }
                Err(e) => {
                    warn!(socket = %sock.display(), error = %e, "cannot create the control socket")
                }
            }
        }
        crate::notify::notify("READY=1");
        if let Some(every) = crate::notify::watchdog_interval() {
            // Pinged from its own task, so a long installation (which awaits
            // RAUC without blocking the runtime) does not trip the watchdog,
            // while a hung runtime does.
            tasks.spawn(async move {
                loop {
                    crate::notify::notify("WATCHDOG=1");
                    tokio::time::sleep(every).await;
                }
            });
        }
        tokio::pin!(shutdown);
        let mut wait = Duration::ZERO;
        loop {
            tokio::select! {
                _ = &mut shutdown => {
                    crate::notify::notify("STOPPING=1");
                    tasks.shutdown().await;
                    return Ok(());
                }
                _ = tokio::time::sleep(wait) => {}
            }
            let (_, w) = self.tick().await;
            wait = w;
        }
    }
}
