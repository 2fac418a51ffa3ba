//! The agent's decisions: one poll of the server ([`Agent::poll_once`]),
//! handling what the server asks for, and confirming or undoing an update
//! after the reboot ([`Agent::after_boot`]).
//!
//! The update crosses a reboot, so its state lives on disk ([`StateDir`]):
//!
//! ```text
//!  poll ──deploymentBase──▶ download ──▶ RAUC install ──▶ save Pending ──▶ reboot
//!                                                                           │
//!   ┌───────────────────────────────────────────────────────────────────────┘
//!   ▼ after_boot
//!  booted the new slot? ──no──▶ outcome: failure ("bootloader fell back")
//!        │yes
//!  health check passes? ──no──▶ mark new slot bad, activate old ─▶ outcome: failure, reboot back
//!        │yes
//!  mark good ──▶ outcome: success
//!
//!  next poll: report the outcome (closed/success or closed/failure), clear Pending
//! ```

use crate::backoff::Backoff;
use crate::client::{ClientError, DdiClient};
use crate::config::{Config, ConsentMode};
use crate::download::{self, DownloadError};
use crate::exec;
use crate::installer::{self, InstallOptions, Installer};
use crate::state::{Outcome, Pending, StateDir};
use ota_ddi::{
    ActionFeedback, ConfigData, DeploymentBase, Execution, Finished, HandlingType,
    MaintenanceWindow,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tracing::{debug, info, warn};

/// Errors of one agent step. Every one is retried after a back-off.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Talking to the server failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Talking to RAUC failed.
    #[error(transparent)]
    Installer(#[from] installer::Error),
    /// State could not be saved.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// A download did not complete.
    #[error(transparent)]
    Download(#[from] DownloadError),
    /// A reboot command failed.
    #[error("reboot failed: {0}")]
    Reboot(exec::ExecError),
}

/// What happened in one poll, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do.
    Idle,
    /// An earlier outcome was reported.
    Reported(u64, bool),
    /// A deployment was refused without installing (development mode,
    /// wrong compatible, unsupported content).
    Refused(u64),
    /// A deployment was installed; the device reboots next.
    Installed(u64),
    /// A deployment failed before the reboot (reported).
    Failed(u64),
    /// A download-only deployment was fetched.
    Downloaded(u64),
    /// A cancel request was answered.
    Canceled(u64),
    /// Waiting for the maintenance window.
    Waiting(u64),
    /// The action waits for consent that has not been given yet.
    AwaitingConsent(u64),
    /// Consent was given (`true`) or refused, and reported.
    Consented(u64, bool),
}

/// The agent.
pub struct Agent {
    cfg: Config,
    client: DdiClient,
    rauc: Installer,
    state: StateDir,
    backoff: Backoff,
    reboot_requested: bool,
    /// Set while the application has asked to postpone the reboot.
    pub defer: crate::control::Deferral,
    /// The action waiting for the application's consent, and its answer.
    pub consent: crate::control::ConsentDesk,
    /// The last action this agent confirmed.
    confirmed_last: Option<u64>,
}

fn feedback(execution: Execution, finished: Finished, details: Vec<String>) -> ActionFeedback {
    ActionFeedback::new(execution, finished, details)
}

fn progress_feedback(details: String, cnt: u64, of: u64) -> ActionFeedback {
    let mut fb = feedback(Execution::Proceeding, Finished::None, vec![details]);
    fb.status.result.progress = Some(ota_ddi::Progress::steps(cnt, of));
    fb
}

impl Agent {
    /// Builds an agent from its parts (tests pass a client for the test server).
    pub fn new(cfg: Config, client: DdiClient, rauc: Installer, state: StateDir) -> Agent {
        let backoff = Backoff::new(
            Duration::from_secs(5).min(cfg.server.poll_interval),
            cfg.server.backoff_max,
        );
        let defer = crate::control::Deferral::new(cfg.reboot.max_deferral);
        Agent {
            cfg,
            client,
            rauc,
            state,
            backoff,
            reboot_requested: false,
            defer,
            consent: crate::control::ConsentDesk::default(),
            confirmed_last: None,
        }
    }

    /// The RAUC connection.
    pub fn installer(&self) -> &Installer {
        &self.rauc
    }

    /// The state directory.
    pub fn state(&self) -> &StateDir {
        &self.state
    }

    /// Whether a reboot was requested and not yet carried out.
    pub fn reboot_requested(&self) -> bool {
        self.reboot_requested
    }

    fn development_mode(&self) -> bool {
        self.cfg.development.enabled
            || self
                .cfg
                .development
                .marker_file
                .as_ref()
                .is_some_and(|p| p.exists())
    }

    /// After (re)start: settles an update that was pending across a reboot.
    /// Returns true if a reboot (back to the old slot) is needed.
    pub async fn after_boot(&mut self) -> Result<bool, AgentError> {
        let Some(mut p) = self.state.pending()? else {
            return Ok(false);
        };
        if let Some(o) = &p.outcome {
            // Decided before; only the report (and maybe the reboot back) is left.
            if o.reboot_back && self.rauc.boot_slot().await? == p.to_bootname {
                return Ok(true);
            }
            return Ok(false);
        }
        let booted = self.rauc.boot_slot().await?;
        if booted == p.from_bootname && booted != p.to_bootname {
            warn!(slot = %p.to_slot, "the new slot did not boot; the bootloader fell back");
            let _ = self.rauc.mark_bad(&p.to_slot).await;
            p.outcome = Some(Outcome {
                success: false,
                details: vec![format!(
                    "booted {booted} instead of {}: the bootloader fell back to the previous slot (the new system did not come up)",
                    p.to_bootname
                )],
                reboot_back: false,
            });
            self.state.save_pending(&p)?;
            return Ok(false);
        }
        if booted != p.to_bootname {
            warn!(%booted, expected = %p.to_bootname, "booted an unexpected slot");
        }
        match self.health_check().await {
            Ok(()) => {
                let slot = self.rauc.mark_good("booted").await?;
                info!(%slot, "health check passed; slot marked good");
                p.outcome = Some(Outcome {
                    success: true,
                    details: vec![format!(
                        "installed {} into {slot}, booted it and passed the health check",
                        p.version.as_deref().unwrap_or("bundle")
                    )],
                    reboot_back: false,
                });
                self.state.save_pending(&p)?;
                Ok(false)
            }
            Err(reason) => {
                warn!(%reason, "health check failed; going back to the previous slot");
                self.rauc.mark_bad("booted").await?;
                self.rauc.mark_active("other").await?;
                p.outcome = Some(Outcome {
                    success: false,
                    details: vec![format!(
                        "health check failed on {}: {reason}; rolled back to the previous slot",
                        p.to_slot
                    )],
                    reboot_back: true,
                });
                self.state.save_pending(&p)?;
                Ok(true)
            }
        }
    }

    /// Runs the configured health checks until they pass or time out.
    async fn health_check(&self) -> Result<(), String> {
        let h = &self.cfg.health;
        let deadline = tokio::time::Instant::now() + h.timeout;
        let mut last = String::from("no check ran");
        loop {
            let mut ok = true;
            if !h.command.is_empty() {
                let left = deadline
                    .saturating_duration_since(tokio::time::Instant::now())
                    .max(Duration::from_secs(1));
                if let Err(e) = exec::run(&h.command, left).await {
                    ok = false;
                    last = e.to_string();
                }
            }
            if ok && !h.units.is_empty() {
                match exec::inactive_units(&h.units).await {
                    Ok(v) if v.is_empty() => {}
                    Ok(v) => {
                        ok = false;
                        last = format!("units not active: {}", v.join(", "));
                    }
                    Err(e) => {
                        ok = false;
                        last = e.to_string();
                    }
                }
            }
            if ok {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(last);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// The device's attributes for `configData`.
    pub async fn attributes(&self) -> BTreeMap<String, String> {
        let mut a = self.cfg.device.attributes.clone();
        for (k, path) in &self.cfg.device.attribute_files {
            if let Ok(v) = std::fs::read_to_string(path) {
                a.insert(k.clone(), v.trim().to_string());
            }
        }
        a.insert("agent_version".into(), env!("CARGO_PKG_VERSION").into());
        if let Ok(c) = self.rauc.compatible().await {
            a.insert("compatible".into(), c);
        }
        if let Ok(v) = self.rauc.variant().await {
            if !v.is_empty() {
                a.insert("variant".into(), v);
            }
        }
        if let Ok(b) = self.rauc.boot_slot().await {
            a.insert("booted_slot".into(), b);
        }
        if let Ok(slots) = self.rauc.slots().await {
            for s in slots {
                if let Some(v) = s.bundle_version {
                    a.insert(format!("version.{}", s.name), v.clone());
                    if s.state == "booted" {
                        a.insert("installed_version".into(), v);
                    }
                }
            }
        }
        a.insert("development".into(), self.development_mode().to_string());
        a
    }

    /// One conversation with the server. Returns how long to sleep.
    pub async fn poll_once(&mut self) -> Result<(Step, Duration), AgentError> {
        let step = self.poll_inner().await;
        match step {
            Ok((s, d)) => {
                self.backoff.succeeded();
                Ok((s, d))
            }
            Err(e) => Err(e),
        }
    }

    /// The wait after a failed step.
    pub fn next_backoff(&mut self) -> Duration {
        self.backoff.failed()
    }

    async fn poll_inner(&mut self) -> Result<(Step, Duration), AgentError> {
        // An outcome from before the reboot goes out first.
        if let Some(p) = self.state.pending()? {
            if let Some(o) = &p.outcome {
                if let Some(id) = p.action_id {
                    let fb = feedback(
                        Execution::Closed,
                        if o.success {
                            Finished::Success
                        } else {
                            Finished::Failure
                        },
                        o.details.clone(),
                    );
                    match self.client.feedback(id, &fb).await {
                        Ok(()) => {}
                        // 410: the action was closed meanwhile; 404: removed. Nothing to report to.
                        Err(e) if matches!(e.status().map(|s| s.as_u16()), Some(404 | 410)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                let success = o.success;
                self.state.clear_pending()?;
                return Ok((
                    Step::Reported(p.action_id.unwrap_or(0), success),
                    Duration::ZERO,
                ));
            }
        }
        let base = self.client.poll().await?;
        let sleep = base.config.polling.sleep.as_duration();
        if base.links.config_data.is_some() {
            let data = ConfigData {
                data: self.attributes().await,
                mode: Some(ota_ddi::UpdateMode::Replace),
            };
            self.client.put_config_data(&data).await?;
        }
        if let (Some(link), Some(settings)) =
            (&base.links.device_config, self.cfg.device_config.clone())
        {
            self.apply_device_config(&link.href, &settings).await?;
        }
        if let Some(link) = &base.links.cancel_action {
            let cancel = self.client.cancel_action(&link.href).await?;
            let id = cancel.cancel_action.stop_id.get();
            let installed = self
                .state
                .pending()?
                .is_some_and(|p| p.action_id == Some(id));
            if installed {
                // RAUC has written the slot; the update is confirmed or
                // undone across the reboot, it cannot be called off now.
                if !self.state.answered().contains(&cancel.id.get()) {
                    let fb = feedback(
                        Execution::Rejected,
                        Finished::None,
                        vec!["cannot cancel: the update is already installed".into()],
                    );
                    self.client.cancel_feedback(cancel.id.get(), &fb).await?;
                    self.state.add_answered(cancel.id.get())?;
                }
                return Ok((Step::Canceled(id), sleep));
            }
            // Nothing is being installed outside a poll, so a cancel seen
            // here comes before installation started: accept it.
            let fb = feedback(
                Execution::Closed,
                Finished::Success,
                vec!["canceled before installation".into()],
            );
            self.client.cancel_feedback(cancel.id.get(), &fb).await?;
            let _ = std::fs::remove_file(
                self.state
                    .downloads()
                    .join(format!("action-{id}.raucb.part")),
            );
            return Ok((Step::Canceled(id), sleep));
        }
        match &base.links.confirmation_base {
            Some(link) => {
                let step = self.consent_step(&link.href).await?;
                // Once consent is given the deployment is offered at once:
                // poll again without waiting out the interval. Only once per
                // action, so a server that keeps asking cannot make the
                // device poll in a tight loop.
                let wait = match step {
                    Step::Consented(id, true) if self.confirmed_last != Some(id) => {
                        self.confirmed_last = Some(id);
                        Duration::ZERO
                    }
                    _ => sleep,
                };
                return Ok((step, wait));
            }
            None => self.consent.clear(),
        }
        if let Some(link) = &base.links.deployment_base {
            let d = self.client.deployment(&link.href).await?;
            let step = self.deploy(d).await?;
            return Ok((step, sleep));
        }
        Ok((Step::Idle, sleep))
    }

    /// An action waits for the device's consent: answer as `consent.mode`
    /// says, or leave it waiting.
    async fn consent_step(&mut self, href: &str) -> Result<Step, AgentError> {
        let waiting = self.client.confirmation(href).await?;
        let id = waiting.id.get();
        let answer = match self.cfg.consent.mode {
            ConsentMode::Operator => None,
            ConsentMode::Auto => Some((
                true,
                "confirmed by the device (consent.mode = auto)".to_string(),
            )),
            ConsentMode::Application => {
                self.consent.offer(crate::control::WaitingAction {
                    action: id,
                    version: waiting
                        .confirmation
                        .chunks
                        .first()
                        .map(|c| c.version.clone()),
                    update: waiting.confirmation.update,
                });
                self.consent.take_answer(id).map(|a| {
                    let how = if a.confirmed { "confirmed" } else { "denied" };
                    let details = match a.details {
                        Some(d) => format!("{how} by the application: {d}"),
                        None => format!("{how} by the application"),
                    };
                    (a.confirmed, details)
                })
            }
        };
        let Some((confirmed, details)) = answer else {
            debug!(action = id, "waiting for consent");
            return Ok(Step::AwaitingConsent(id));
        };
        let fb = ota_ddi::ConfirmationFeedback {
            confirmation: if confirmed {
                ota_ddi::Confirmation::Confirmed
            } else {
                ota_ddi::Confirmation::Denied
            },
            code: None,
            details: vec![details],
        };
        match self.client.confirmation_feedback(id, &fb).await {
            Ok(()) => {}
            // Confirmed by the operator or closed meanwhile: nothing to answer.
            Err(e) if matches!(e.status().map(|s| s.as_u16()), Some(404 | 410)) => {}
            Err(e) => return Err(e.into()),
        }
        info!(action = id, confirmed, "answered the consent request");
        Ok(Step::Consented(id, confirmed))
    }

    /// Fetches, checks, writes and confirms the device's configuration.
    /// A configuration the schema refuses, or whose reload fails, is
    /// reported with the reason; the previous file stays (or comes back).
    async fn apply_device_config(
        &self,
        href: &str,
        settings: &crate::devconfig::Settings,
    ) -> Result<(), AgentError> {
        let dc = self.client.device_config(href).await?;
        let result = async {
            if let Some(schema) = &settings.schema {
                let text = std::fs::read_to_string(schema)
                    .map_err(|e| format!("cannot read the schema {}: {e}", schema.display()))?;
                crate::devconfig::validate(&text, &dc.config)?;
            }
            if let Some(dir) = settings.path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("creating {}: {e}", dir.display()))?;
            }
            let previous = settings.path.with_extension("previous.json");
            let had_previous = settings.path.exists();
            if had_previous {
                std::fs::copy(&settings.path, &previous)
                    .map_err(|e| format!("keeping the previous file: {e}"))?;
            }
            let json = serde_json::to_vec_pretty(&dc.config).map_err(|e| e.to_string())?;
            crate::state::write_atomic(&settings.path, &json).map_err(|e| e.to_string())?;
            if !settings.reload_command.is_empty() {
                if let Err(e) = exec::run(&settings.reload_command, Duration::from_secs(60)).await {
                    if had_previous {
                        let _ = std::fs::read(&previous)
                            .map(|old| crate::state::write_atomic(&settings.path, &old));
                    }
                    return Err(format!(
                        "the reload command failed, previous configuration restored: {e}"
                    ));
                }
            }
            Ok::<(), String>(())
        }
        .await;
        let report = match result {
            Ok(()) => {
                info!(
                    revision = dc.revision,
                    keys = dc.config.len(),
                    "device configuration applied"
                );
                ota_ddi::AppliedConfig::applied(dc.revision)
            }
            Err(why) => {
                warn!(revision = dc.revision, %why, "device configuration not applied");
                ota_ddi::AppliedConfig::failed(dc.revision, why)
            }
        };
        self.client.device_config_applied(&report).await?;
        Ok(())
    }

    async fn refuse(
        &self,
        id: u64,
        execution: Execution,
        finished: Finished,
        why: String,
    ) -> Result<Step, AgentError> {
        if self.state.answered().contains(&id) {
            return Ok(Step::Refused(id));
        }
        info!(action = id, %why, "not installing");
        self.client
            .feedback(id, &feedback(execution, finished, vec![why]))
            .await?;
        self.state.add_answered(id)?;
        Ok(Step::Refused(id))
    }

    async fn deploy(&mut self, d: DeploymentBase) -> Result<Step, AgentError> {
        let id = d.id.get();
        if self.development_mode() {
            return self
                .refuse(
                    id,
                    Execution::Rejected,
                    Finished::None,
                    "development device: assignments are not installed (development mode); use a local install".into(),
                )
                .await;
        }
        let artifacts: Vec<_> = d
            .deployment
            .chunks
            .iter()
            .flat_map(|c| c.artifacts.iter())
            .collect();
        let bundles: Vec<_> = artifacts
            .iter()
            .filter(|a| a.filename.ends_with(".raucb"))
            .collect();
        if bundles.len() != 1 {
            return self
                .refuse(
                    id,
                    Execution::Closed,
                    Finished::Failure,
                    format!(
                        "unsupported deployment: expected exactly one .raucb artifact, found {}",
                        bundles.len()
                    ),
                )
                .await;
        }
        let art = bundles[0];
        let Some(sha256) = art.hashes.sha256.clone() else {
            return self
                .refuse(
                    id,
                    Execution::Closed,
                    Finished::Failure,
                    "artifact has no sha256".into(),
                )
                .await;
        };
        let Some(link) = art.links.preferred_download() else {
            return self
                .refuse(
                    id,
                    Execution::Closed,
                    Finished::Failure,
                    "artifact has no download link".into(),
                )
                .await;
        };
        let url = self.client.resolve(&link.href)?;
        let install_now = d.deployment.update != HandlingType::Skip
            && d.deployment.maintenance_window != Some(MaintenanceWindow::Unavailable);
        let version = d.deployment.chunks.first().map(|c| c.version.clone());

        if self.cfg.install.streaming && install_now {
            self.client
                .feedback(
                    id,
                    &progress_feedback("installing (streaming)".into(), 0, 100),
                )
                .await?;
            let mut opts = InstallOptions {
                transaction_id: Some(format!("action-{id}")),
                ..Default::default()
            };
            if let Some(h) = self.client.auth().header() {
                opts.http_headers
                    .push(format!("Authorization: {}", h.to_str().unwrap_or_default()));
            }
            return self.install(id, version, url.as_str(), &opts).await;
        }

        let dest = self.state.downloads().join(format!("action-{id}.raucb"));
        let req = download::Request {
            url,
            dest,
            size: art.size,
            sha256,
            reserve: self.cfg.install.min_free_bytes,
        };
        self.client
            .feedback(
                id,
                &progress_feedback(format!("downloading {}", art.filename), 0, art.size),
            )
            .await?;
        // While downloading, keep an eye on the server: a cancel for this
        // action stops the download (installation has not started yet).
        let (tx, rx) = tokio::sync::watch::channel(false);
        let watcher = {
            let client = self.client.clone();
            let every = self.cfg.server.poll_interval.min(Duration::from_secs(1));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let Ok(base) = client.poll().await else {
                        continue;
                    };
                    let Some(link) = base.links.cancel_action else {
                        continue;
                    };
                    if let Ok(c) = client.cancel_action(&link.href).await {
                        if c.cancel_action.stop_id.get() == id {
                            let _ = tx.send(true);
                            return;
                        }
                    }
                }
            })
        };
        let started = tokio::time::Instant::now();
        let mut last_report = tokio::time::Instant::now();
        let mut reports: Vec<u64> = Vec::new();
        let path = download::fetch(
            &self.client,
            &req,
            |done| {
                if last_report.elapsed() >= Duration::from_secs(5) {
                    last_report = tokio::time::Instant::now();
                    reports.push(done);
                }
            },
            &rx,
        )
        .await;
        watcher.abort();
        let path = match path {
            Ok(p) => p,
            Err(DownloadError::Stopped) => {
                let fb = feedback(
                    Execution::Closed,
                    Finished::Success,
                    vec!["canceled during download, before installation".into()],
                );
                self.client.cancel_feedback(id, &fb).await?;
                let _ = std::fs::remove_file(
                    self.state
                        .downloads()
                        .join(format!("action-{id}.raucb.part")),
                );
                return Ok(Step::Canceled(id));
            }
            Err(DownloadError::NoSpace {
                dir,
                needed,
                available,
            }) => {
                let why = format!(
                    "not enough space in {}: need {needed} bytes, {available} free",
                    dir.display()
                );
                self.client
                    .feedback(
                        id,
                        &feedback(Execution::Closed, Finished::Failure, vec![why]),
                    )
                    .await?;
                return Ok(Step::Failed(id));
            }
            Err(DownloadError::Mismatch(why)) => {
                self.client
                    .feedback(
                        id,
                        &feedback(Execution::Closed, Finished::Failure, vec![why]),
                    )
                    .await?;
                return Ok(Step::Failed(id));
            }
            Err(e) => return Err(e.into()),
        };
        let secs = started.elapsed().as_secs_f64();
        info!(
            action = id,
            bytes = art.size,
            seconds = format!("{secs:.3}"),
            mib_per_s = format!("{:.1}", art.size as f64 / (1 << 20) as f64 / secs.max(1e-9)),
            "download complete and checked"
        );
        if let Some(done) = reports.last() {
            let _ = self
                .client
                .feedback(
                    id,
                    &progress_feedback(format!("downloaded {done} bytes"), *done, art.size),
                )
                .await;
        }
        if d.deployment.update == HandlingType::Skip {
            self.client
                .feedback(
                    id,
                    &feedback(
                        Execution::Downloaded,
                        Finished::Success,
                        vec!["downloaded; installation not requested".into()],
                    ),
                )
                .await?;
            return Ok(Step::Downloaded(id));
        }
        if !install_now {
            self.client
                .feedback(
                    id,
                    &feedback(
                        Execution::Downloaded,
                        Finished::None,
                        vec!["downloaded; waiting for the maintenance window".into()],
                    ),
                )
                .await?;
            return Ok(Step::Waiting(id));
        }
        let opts = InstallOptions {
            transaction_id: Some(format!("action-{id}")),
            ..Default::default()
        };
        let step = self
            .install(id, version, &path.to_string_lossy(), &opts)
            .await?;
        let _ = std::fs::remove_file(&path);
        Ok(step)
    }

    async fn install(
        &mut self,
        id: u64,
        version: Option<String>,
        source: &str,
        opts: &InstallOptions,
    ) -> Result<Step, AgentError> {
        self.client
            .feedback(id, &progress_feedback("installing".into(), 0, 100))
            .await?;
        let from = self.rauc.boot_slot().await?;
        let mut last = -1;
        let mut steps: Vec<i32> = Vec::new();
        let res = self
            .rauc
            .install(source, opts, |p| {
                if p.percent >= last + 20 || p.percent == 100 {
                    last = p.percent;
                    steps.push(p.percent);
                }
            })
            .await;
        for pct in steps {
            let _ = self
                .client
                .feedback(
                    id,
                    &progress_feedback(format!("installing: {pct}%"), pct as u64, 100),
                )
                .await;
        }
        if let Err(e) = res {
            if matches!(
                e,
                installer::Error::Busy(_)
                    | installer::Error::ServiceGone
                    | installer::Error::DBus(_)
            ) {
                // Not a verdict on the bundle (RAUC still finishing an
                // installation started before the agent restarted, or
                // RAUC restarting): try again after a back-off.
                return Err(e.into());
            }
            let why = e.to_string();
            warn!(action = id, %why, "installation failed");
            self.client
                .feedback(
                    id,
                    &feedback(Execution::Closed, Finished::Failure, vec![why]),
                )
                .await?;
            return Ok(Step::Failed(id));
        }
        let primary = self.rauc.primary().await?;
        let slots = self.rauc.slots().await?;
        let to_bootname = slots
            .iter()
            .find(|s| s.name == primary)
            .and_then(|s| s.bootname.clone())
            .unwrap_or_default();
        self.state.save_pending(&Pending {
            action_id: Some(id),
            version,
            from_bootname: from,
            to_slot: primary.clone(),
            to_bootname,
            outcome: None,
        })?;
        self.client
            .feedback(
                id,
                &progress_feedback(format!("installed into {primary}; rebooting"), 100, 100),
            )
            .await?;
        self.reboot_requested = true;
        Ok(Step::Installed(id))
    }

    /// Reboots unless the application holds a deferral (bounded by
    /// `reboot.max_deferral`). Returns false while deferred.
    pub async fn reboot_if_allowed(&mut self) -> Result<bool, AgentError> {
        if self.defer.deferred() {
            return Ok(false);
        }
        info!("rebooting");
        exec::run(&self.cfg.reboot.command, Duration::from_secs(60))
            .await
            .map_err(AgentError::Reboot)?;
        self.reboot_requested = false;
        Ok(true)
    }

    /// Where local uploads are staged.
    pub fn upload_dir(&self) -> PathBuf {
        self.state.downloads()
    }

    /// Records a local install so that it is confirmed after the reboot
    /// like a server one (without a server action to report to).
    pub async fn record_local_install(
        &mut self,
        version: Option<String>,
    ) -> Result<(), AgentError> {
        let from = self.rauc.boot_slot().await?;
        let primary = self.rauc.primary().await?;
        let slots = self.rauc.slots().await?;
        let to_bootname = slots
            .iter()
            .find(|s| s.name == primary)
            .and_then(|s| s.bootname.clone())
            .unwrap_or_default();
        self.state.save_pending(&Pending {
            action_id: None,
            version,
            from_bootname: from,
            to_slot: primary,
            to_bootname,
            outcome: None,
        })?;
        self.reboot_requested = true;
        Ok(())
    }
}
