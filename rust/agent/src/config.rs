//! The agent's configuration file (TOML). Unknown keys are errors: a typo
//! in `/etc` must stop the agent at start-up with a message naming the key,
//! not be silently ignored on a thousand devices.
//!
//! `agent.toml.example` next to this crate documents every key.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid configuration.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (names the key and line).
        message: String,
    },
}

fn default_tenant() -> String {
    "DEFAULT".into()
}
fn default_poll() -> Duration {
    Duration::from_secs(300)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(3600)
}

/// `[server]`: where to poll and how to authenticate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Base URL, e.g. `https://updates.example.com`.
    pub url: String,
    /// hawkBit tenant.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// This device's controller id; or read it from `controller_id_file`.
    pub controller_id: Option<String>,
    /// File holding the controller id (written by first-boot provisioning).
    pub controller_id_file: Option<PathBuf>,
    /// File holding the target security token (`Authorization: TargetToken`).
    pub token_file: Option<PathBuf>,
    /// File holding a gateway token instead (`Authorization: GatewayToken`).
    pub gateway_token_file: Option<PathBuf>,
    /// Extra CA certificate (PEM) for the server's TLS certificate.
    pub ca_file: Option<PathBuf>,
    /// Poll interval until the server says otherwise.
    #[serde(default = "default_poll", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Longest wait between attempts while the server is failing.
    #[serde(default = "default_backoff_max", with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Timeout of one HTTP request (not of a whole download).
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `[device]`: what the device tells the server about itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Fixed attributes, e.g. `hw_revision = "rev-b"`.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Attributes read from files at start-up (value = file content,
    /// trimmed), e.g. `serial = "/sys/firmware/devicetree/base/serial-number"`.
    #[serde(default)]
    pub attribute_files: BTreeMap<String, PathBuf>,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/update-agent")
}
fn default_rauc_bus() -> crate::installer::Bus {
    crate::installer::Bus::System
}
fn default_min_free() -> u64 {
    16 << 20
}

/// `[install]`: where bundles go and how RAUC is reached.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Install {
    /// Persistent state: the pending action across reboots, downloads.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// D-Bus RAUC listens on: `system`, `session` or an address.
    #[serde(default = "default_rauc_bus")]
    pub rauc_bus: crate::installer::Bus,
    /// Let RAUC stream verity bundles over HTTP instead of downloading them.
    #[serde(default)]
    pub streaming: bool,
    /// Free space to keep on the data partition beyond the bundle itself.
    #[serde(default = "default_min_free")]
    pub min_free_bytes: u64,
}

impl Default for Install {
    fn default() -> Self {
        Install {
            state_dir: default_state_dir(),
            rauc_bus: default_rauc_bus(),
            streaming: false,
            min_free_bytes: default_min_free(),
        }
    }
}

fn default_health_timeout() -> Duration {
    Duration::from_secs(120)
}

/// `[health]`: what must hold after booting a new slot before it is kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// A command that must exit 0 (argv, no shell).
    #[serde(default)]
    pub command: Vec<String>,
    /// systemd units that must be active.
    #[serde(default)]
    pub units: Vec<String>,
    /// How long the checks may take to pass.
    #[serde(default = "default_health_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            command: Vec::new(),
            units: Vec::new(),
            timeout: default_health_timeout(),
        }
    }
}

fn default_reboot() -> Vec<String> {
    vec!["systemctl".into(), "reboot".into()]
}
fn default_max_deferral() -> Duration {
    Duration::from_secs(3600)
}

/// `[reboot]`: how the device reboots into the new slot.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reboot {
    /// The reboot command (argv).
    #[serde(default = "default_reboot")]
    pub command: Vec<String>,
    /// The longest the application may postpone a reboot in total.
    #[serde(default = "default_max_deferral", with = "humantime_serde")]
    pub max_deferral: Duration,
    /// Unix socket where the application asks for deferral.
    pub control_socket: Option<PathBuf>,
}

impl Default for Reboot {
    fn default() -> Self {
        Reboot {
            command: default_reboot(),
            max_deferral: default_max_deferral(),
            control_socket: None,
        }
    }
}

/// `[development]`: devices that must report but never take assignments.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Development {
    /// Never install what the server assigns.
    #[serde(default)]
    pub enabled: bool,
    /// A file whose presence means the same (the old updater's convention).
    pub marker_file: Option<PathBuf>,
}

/// Who answers the server's consent flow (hawkBit's user confirmation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsentMode {
    /// The agent does not answer: an operator confirms on the server (or
    /// switches the target's auto-confirm on). The action waits until then.
    #[default]
    Operator,
    /// The agent confirms every action the server asks about: for devices
    /// with no one to ask, on a server whose other devices have.
    Auto,
    /// The application on the device confirms or denies through the
    /// control socket (`GET`/`POST /consent`), e.g. after asking its user.
    Application,
}

/// `[consent]`: the server's consent flow.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// See [`ConsentMode`].
    #[serde(default)]
    pub mode: ConsentMode,
}

fn default_max_upload() -> u64 {
    2 << 30
}

/// `[local]`: manual updates over the device's own network.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Local {
    /// Address to listen on, e.g. the access point's `192.168.4.1:8080`.
    pub listen: String,
    /// File with the credential the web interface must send as a bearer token.
    pub token_file: PathBuf,
    /// Largest accepted bundle.
    #[serde(default = "default_max_upload")]
    pub max_bundle_bytes: u64,
    /// Keyring for checking uploads before they reach RAUC (the same as RAUC's).
    pub keyring: PathBuf,
    /// The program that checks an upload (`update-agent-check-bundle`);
    /// by default the one installed next to `update-agent`.
    pub checker: Option<PathBuf>,
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Server connection.
    pub server: Server,
    /// Device attributes.
    #[serde(default)]
    pub device: Device,
    /// Installation.
    #[serde(default)]
    pub install: Install,
    /// Health check after an update.
    #[serde(default)]
    pub health: Health,
    /// Rebooting.
    #[serde(default)]
    pub reboot: Reboot,
    /// Development mode.
    #[serde(default)]
    pub development: Development,
    /// The server's consent flow.
    #[serde(default)]
    pub consent: Consent,
    /// Local upload interface (off when absent).
    pub local: Option<Local>,
    /// Per-device configuration from the server (not fetched when absent).
    pub device_config: Option<crate::devconfig::Settings>,
}

impl Config {
    /// Parses TOML text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let c: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        c.validate(path)?;
        Ok(c)
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        if !(self.server.url.starts_with("http://") || self.server.url.starts_with("https://")) {
            return Err(invalid(format!(
                "server.url {:?} must start with http:// or https://",
                self.server.url
            )));
        }
        if self.server.controller_id.is_none() && self.server.controller_id_file.is_none() {
            return Err(invalid(
                "set server.controller_id or server.controller_id_file".into(),
            ));
        }
        if self.server.token_file.is_some() && self.server.gateway_token_file.is_some() {
            return Err(invalid(
                "set only one of server.token_file and server.gateway_token_file".into(),
            ));
        }
        if self.server.poll_interval.is_zero() {
            return Err(invalid(
                "server.poll_interval must be more than zero".into(),
            ));
        }
        if self.reboot.command.is_empty() {
            return Err(invalid("reboot.command must not be empty".into()));
        }
        if self.consent.mode == ConsentMode::Application && self.reboot.control_socket.is_none() {
            return Err(invalid(
                "consent.mode = \"application\" needs reboot.control_socket: the application answers there".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../agent.toml.example");
        let c = Config::parse(text, Path::new("agent.toml.example")).unwrap();
        assert_eq!(c.server.tenant, "DEFAULT");
        assert!(c.local.is_some());
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let e = Config::parse(
            "[server]\nurl=\"http://x\"\ncontroller_id=\"a\"\npoll_intervall=\"5m\"\n",
            Path::new("agent.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("poll_intervall"), "{e}");
        let e = Config::parse(
            "[server]\nurl=\"x\"\ncontroller_id=\"a\"\n",
            Path::new("a.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("http://"), "{e}");
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let c = Config::parse(
            "[server]\nurl=\"http://x\"\ncontroller_id=\"a\"\n",
            Path::new("a.toml"),
        )
        .unwrap();
        assert_eq!(c.server.poll_interval, Duration::from_secs(300));
        assert_eq!(c.reboot.command, vec!["systemctl", "reboot"]);
        assert!(!c.development.enabled);
    }
}
