//! Everything the agent asks of RAUC, over D-Bus. No other module talks to
//! D-Bus; the rest of the agent sees [`Installer`] and plain Rust types.
//!
//! RAUC does the parts that must be atomic and trusted: it verifies the
//! bundle's signature against the device keyring before writing a single
//! byte, writes the inactive slot, and switches the bootloader. The agent
//! decides *when*, watches progress, and reads the outcome.

mod proxy;

use futures_lite::StreamExt;
use std::collections::HashMap;
use zbus::zvariant::{OwnedValue, Value};

pub use proxy::InstallerProxy;

/// What can go wrong talking to RAUC.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The D-Bus call itself failed (no service, access denied, ...).
    #[error("D-Bus: {0}")]
    DBus(#[from] zbus::Error),
    /// RAUC is already installing something.
    #[error("RAUC is busy (operation: {0})")]
    Busy(String),
    /// RAUC finished the installation with an error.
    #[error("installation failed: {0}")]
    InstallFailed(String),
    /// The service went away before reporting a result.
    #[error("the RAUC service stopped before the installation completed")]
    ServiceGone,
    /// RAUC refused a mark request.
    #[error("marking slot {slot} {state} failed: {reason}")]
    Mark {
        /// good, bad or active.
        state: &'static str,
        /// The slot identifier asked for.
        slot: String,
        /// RAUC's message.
        reason: String,
    },
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which bus RAUC listens on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bus {
    /// The system bus (devices).
    System,
    /// The session bus.
    Session,
    /// An explicit address, e.g. `unix:path=/run/test/bus` (tests).
    #[serde(untagged)]
    Address(String),
}

/// Install arguments RAUC 1.8 accepts; every RAUC since understands them.
const BASE_INSTALL_ARGS: [&str; 6] = [
    "ignore-compatible",
    "tls-cert",
    "tls-key",
    "tls-ca",
    "tls-no-verify",
    "http-headers",
];

/// What the running RAUC service offers, found by introspection instead of
/// assumed: RAUC 1.8 rejects an `InstallBundle` call carrying any argument
/// it does not know, so the agent sends only what this service accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `InspectBundle` (RAUC 1.9 and later).
    pub inspect_bundle: bool,
    /// `GetArtifactStatus` (RAUC 1.13 and later).
    pub artifact_status: bool,
}

impl Capabilities {
    fn from_introspection(xml: &str) -> Capabilities {
        let section = xml
            .find("de.pengutronix.rauc.Installer")
            .map(|i| &xml[i..])
            .unwrap_or("");
        let section = section
            .find("</interface>")
            .map(|e| &section[..e])
            .unwrap_or(section);
        let has = |m: &str| section.contains(&format!("<method name=\"{m}\""));
        Capabilities {
            inspect_bundle: has("InspectBundle"),
            artifact_status: has("GetArtifactStatus"),
        }
    }

    /// Whether `InstallBundle` accepts argument `name`. Arguments newer
    /// than 1.8 are allowed only when a method of the same or a later
    /// release shows the service is new enough.
    pub fn install_arg(&self, name: &str) -> bool {
        BASE_INSTALL_ARGS.contains(&name)
            || (self.artifact_status && matches!(name, "transaction-id" | "ignore-version-limit"))
    }
}

/// Options for one installation.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// HTTP headers for streaming installs, e.g. `Authorization: TargetToken ...`.
    pub http_headers: Vec<String>,
    /// CA file for HTTPS streaming.
    pub tls_ca: Option<String>,
    /// Install even if the bundle's compatible differs (never used by the agent itself).
    pub ignore_compatible: bool,
    /// An id RAUC logs with the installation (RAUC 1.10+; dropped on older services).
    pub transaction_id: Option<String>,
}

/// One progress step of an installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// 0 to 100.
    pub percent: i32,
    /// RAUC's message, e.g. `Copying image to rootfs.1`.
    pub message: String,
    /// Nesting depth of the step.
    pub depth: i32,
}

/// A slot as RAUC reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotStatus {
    /// Slot name, e.g. `rootfs.1`.
    pub name: String,
    /// Slot class, e.g. `rootfs`.
    pub class: String,
    /// Bootloader name, e.g. `system1`.
    pub bootname: Option<String>,
    /// `booted`, `active` or `inactive`.
    pub state: String,
    /// `good` or `bad`, from the bootloader.
    pub boot_status: Option<String>,
    /// Version of the bundle last installed into the slot.
    pub bundle_version: Option<String>,
    /// Compatible of that bundle.
    pub bundle_compatible: Option<String>,
    /// SHA-256 of the installed image.
    pub sha256: Option<String>,
}

fn string(map: &HashMap<String, OwnedValue>, key: &str) -> Option<String> {
    map.get(key).and_then(|v| String::try_from(v.clone()).ok())
}

/// A connection to RAUC.
pub struct Installer {
    proxy: InstallerProxy<'static>,
    caps: Capabilities,
}

impl Installer {
    /// Connects to RAUC on `bus` and finds out what it supports.
    pub async fn connect(bus: &Bus) -> Result<Installer> {
        let conn = match bus {
            Bus::System => zbus::Connection::system().await?,
            Bus::Session => zbus::Connection::session().await?,
            Bus::Address(a) => {
                zbus::connection::Builder::address(a.as_str())?
                    .build()
                    .await?
            }
        };
        let proxy = InstallerProxy::new(&conn).await?;
        let introspect = zbus::fdo::IntrospectableProxy::builder(&conn)
            .destination("de.pengutronix.rauc")?
            .path("/")?
            .build()
            .await?;
        let xml = introspect.introspect().await.map_err(zbus::Error::from)?;
        let caps = Capabilities::from_introspection(&xml);
        Ok(Installer { proxy, caps })
    }

    /// What the service supports.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The system's compatible string (from system.conf).
    pub async fn compatible(&self) -> Result<String> {
        Ok(self.proxy.compatible().await?)
    }

    /// The system's variant.
    pub async fn variant(&self) -> Result<String> {
        Ok(self.proxy.variant().await?)
    }

    /// Bootname of the booted slot.
    pub async fn boot_slot(&self) -> Result<String> {
        Ok(self.proxy.boot_slot().await?)
    }

    /// The slot the bootloader will boot next.
    pub async fn primary(&self) -> Result<String> {
        Ok(self.proxy.get_primary().await?)
    }

    /// `idle` or `installing`.
    pub async fn operation(&self) -> Result<String> {
        Ok(self.proxy.operation().await?)
    }

    /// Every slot.
    pub async fn slots(&self) -> Result<Vec<SlotStatus>> {
        let raw = self.proxy.get_slot_status().await?;
        Ok(raw
            .into_iter()
            .map(|(name, m)| SlotStatus {
                class: string(&m, "class").unwrap_or_default(),
                bootname: string(&m, "bootname"),
                state: string(&m, "state").unwrap_or_default(),
                boot_status: string(&m, "boot-status"),
                bundle_version: string(&m, "bundle.version"),
                bundle_compatible: string(&m, "bundle.compatible"),
                sha256: string(&m, "sha256"),
                name,
            })
            .collect())
    }

    async fn mark(&self, state: &'static str, slot: &str) -> Result<String> {
        self.proxy
            .mark(state, slot)
            .await
            .map(|(name, _msg)| name)
            .map_err(|e| Error::Mark {
                state,
                slot: slot.to_string(),
                reason: e.to_string(),
            })
    }

    /// Marks a slot good (`booted`, `other` or a slot name); returns its name.
    pub async fn mark_good(&self, slot: &str) -> Result<String> {
        self.mark("good", slot).await
    }

    /// Marks a slot bad, so the bootloader will not pick it.
    pub async fn mark_bad(&self, slot: &str) -> Result<String> {
        self.mark("bad", slot).await
    }

    /// Makes a slot the one to boot next.
    pub async fn mark_active(&self, slot: &str) -> Result<String> {
        self.mark("active", slot).await
    }

    /// Waits (up to 10 s) for RAUC to report `idle`.
    async fn wait_idle(&self) {
        for _ in 0..200 {
            if self
                .proxy
                .operation()
                .await
                .map(|o| o == "idle")
                .unwrap_or(true)
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Installs `source` and waits for the outcome, reporting progress.
    pub async fn install(
        &self,
        source: &str,
        opts: &InstallOptions,
        mut on_progress: impl FnMut(Progress),
    ) -> Result<()> {
        let op = self.proxy.operation().await?;
        if op != "idle" {
            return Err(Error::Busy(op));
        }
        // Subscribe before starting, so neither the first progress step nor
        // a fast Completed can be missed.
        let mut completed = self.proxy.receive_completed().await?;
        let mut progress = self.proxy.receive_progress_changed().await;
        let mut owner = self.proxy.inner().receive_owner_changed().await?;

        let mut args: HashMap<&str, Value<'_>> = HashMap::new();
        if !opts.http_headers.is_empty() {
            args.insert("http-headers", Value::from(opts.http_headers.clone()));
        }
        if let Some(ca) = &opts.tls_ca {
            args.insert("tls-ca", Value::from(ca.as_str()));
        }
        if opts.ignore_compatible {
            args.insert("ignore-compatible", Value::from(true));
        }
        if let Some(id) = &opts.transaction_id {
            if self.caps.install_arg("transaction-id") {
                args.insert("transaction-id", Value::from(id.as_str()));
            }
        }
        self.proxy.install_bundle(source, args).await?;
        loop {
            tokio::select! {
                sig = completed.next() => {
                    let Some(sig) = sig else { return Err(Error::ServiceGone) };
                    let result = sig.args()?.result;
                    // RAUC announces the result before it is idle again;
                    // wait, so the next call does not find it busy.
                    self.wait_idle().await;
                    if result == 0 {
                        return Ok(());
                    }
                    let msg = self.proxy.last_error().await.unwrap_or_default();
                    return Err(Error::InstallFailed(if msg.is_empty() { format!("RAUC reported result {result}") } else { msg }));
                }
                change = progress.next() => {
                    if let Some(change) = change {
                        if let Ok((percent, message, depth)) = change.get().await {
                            on_progress(Progress { percent, message, depth });
                        }
                    }
                }
                o = owner.next() => {
                    if matches!(o, None | Some(None)) {
                        return Err(Error::ServiceGone);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_follow_introspection() {
        let old = r#"<node><interface name="de.pengutronix.rauc.Installer"><method name="InstallBundle"></method></interface></node>"#;
        let c = Capabilities::from_introspection(old);
        assert!(!c.inspect_bundle);
        assert!(c.install_arg("http-headers"));
        assert!(!c.install_arg("transaction-id"));
        let new = r#"<node><interface name="de.pengutronix.rauc.Installer"><method name="InspectBundle"></method><method name="GetArtifactStatus"></method></interface></node>"#;
        let c = Capabilities::from_introspection(new);
        assert!(c.inspect_bundle && c.install_arg("transaction-id"));
        assert!(!c.install_arg("require-manifest-hash"));
    }
}
