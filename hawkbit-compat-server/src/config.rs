//! Configuration: command line, environment and an optional TOML file.
//!
//! Precedence, highest first: command-line flag, environment variable (`HAWKBIT_*`), TOML file
//! (`--config`), built-in default. Every setting has a default, so the server starts with no
//! arguments at all: it listens on `127.0.0.1:8080` and keeps its SQLite database
//! (`server.db`) and its artifact files (`artifacts/`) in `./data`, creating the folder.
//!
//! The TOML file is parsed strictly (`deny_unknown_fields`): a misspelt key in a local file is
//! an error at startup, not a silently ignored setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ota_ddi::PollingSleep;
use serde::Deserialize;

use crate::secret::Secret;

/// Default listen address: loopback only, so a server started by hand is not exposed by
/// accident. Devices need `--listen 0.0.0.0:8080` (or a reverse proxy).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "data";
/// Default tenant (the name hawkBit clients use unless configured otherwise).
pub const DEFAULT_TENANT: &str = "DEFAULT";
/// Default polling interval sent to devices (hawkBit's default).
pub const DEFAULT_POLL_INTERVAL: &str = "00:05:00";
/// Default seconds between two steps of the rollout engine.
pub const DEFAULT_ROLLOUT_INTERVAL_SECS: u64 = 10;
/// Default DDI request budget per client IP and second (hawkBit's read limit).
pub const DEFAULT_RATE_LIMIT: u32 = 200;

/// Command-line interface. Every option can also come from the environment or the file.
///
/// Deliberately not `Debug`: it holds secrets as plain strings until [`Config::load`] wraps them.
#[derive(Default, clap::Parser)]
#[command(name = "hawkbit-compat-server", version, about)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, env = "HAWKBIT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "HAWKBIT_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Directory for the SQLite database and the artifact files [default: ./data].
    #[arg(long, env = "HAWKBIT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL (`sqlite://...` or `postgres://...`) [default: sqlite in the data dir].
    #[arg(long, env = "HAWKBIT_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Tenant name in DDI paths (matched case-insensitively) [default: DEFAULT].
    #[arg(long, env = "HAWKBIT_TENANT")]
    pub tenant: Option<String>,
    /// Public base URL for links sent to devices, e.g. `https://updates.example.com`
    /// [default: http:// plus the request's Host header].
    #[arg(long, env = "HAWKBIT_EXTERNAL_URL", value_name = "URL")]
    pub external_url: Option<String>,
    /// Gateway token: lets a client act as any device and registers unknown devices on their
    /// first poll [default: disabled]. Prefer the environment over the command line, where
    /// other users can read it.
    #[arg(long, env = "HAWKBIT_GATEWAY_TOKEN", hide_env_values = true)]
    pub gateway_token: Option<String>,
    /// Polling interval sent to devices, HH:MM:SS [default: 00:05:00].
    #[arg(long, env = "HAWKBIT_POLL_INTERVAL", value_name = "HH:MM:SS")]
    pub poll_interval: Option<PollingSleep>,
    /// DDI requests per second allowed per client IP, 0 to disable [default: 200].
    #[arg(long, env = "HAWKBIT_RATE_LIMIT")]
    pub rate_limit: Option<u32>,
    /// PostgreSQL only: reuse a device's base-poll answer for up to this many milliseconds (at
    /// most 60000) unless this instance wrote something meanwhile; writes of other instances
    /// then reach devices up to that much later [default: 0, off]. With SQLite, answers are
    /// always reused until the next write, which is exact.
    #[arg(long, env = "HAWKBIT_POLL_CACHE_MS", value_name = "MS")]
    pub poll_cache_ms: Option<u32>,
    /// Password of the `admin` operator, created on startup when no operator exists
    /// [default: none; the management API is unusable until an operator exists].
    #[arg(long, env = "HAWKBIT_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Trusted CA certificates (PEM file or directory) for verifying uploaded RAUC bundles
    /// [default: none; bundle uploads are refused].
    #[arg(long, env = "HAWKBIT_KEYRING", value_name = "PATH")]
    pub keyring: Option<PathBuf>,
    /// Certificate purpose the bundle signer must have, as RAUC's `check-purpose`:
    /// `default`, `codesign`, `any` or an OpenSSL purpose name [default: codesign, which
    /// signers with extended key usage codeSigning need, as devices set it in system.conf].
    #[arg(long, env = "HAWKBIT_CHECK_PURPOSE", value_name = "PURPOSE")]
    pub check_purpose: Option<String>,
    /// Seconds between two steps of the rollout engine (rollout groups, auto-assignment)
    /// [default: 10].
    #[arg(long, env = "HAWKBIT_ROLLOUT_INTERVAL", value_name = "SECONDS")]
    pub rollout_interval: Option<u64>,
    /// New rollouts wait for approval (`POST /rollouts/{id}/approve`) before they can start,
    /// like hawkBit's `rollout.approval.enabled` [default: false].
    #[arg(long, env = "HAWKBIT_ROLLOUT_APPROVAL", value_name = "BOOL")]
    pub rollout_approval: Option<bool>,
    /// User-consent flow: assignments wait for the device to confirm them
    /// (`confirmationBase`) unless the assignment says `"confirmationRequired": false` or the
    /// target has auto-confirm on, like hawkBit's `user.confirmation.flow.enabled`
    /// [default: false].
    #[arg(long, env = "HAWKBIT_CONFIRMATION_FLOW", value_name = "BOOL")]
    pub confirmation_flow: Option<bool>,
    /// PEM certificate chain for serving HTTPS directly; needs `--tls-key` [default: plain
    /// HTTP, for running behind a TLS-terminating reverse proxy].
    #[arg(long, env = "HAWKBIT_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) belonging to `--tls-cert`.
    #[arg(long, env = "HAWKBIT_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// What to do; without a command the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands besides serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Manage operator accounts of the management API. Works directly on the configured
    /// database (`--data-dir` or `--database-url`); the server need not be running.
    #[command(subcommand)]
    User(UserCommand),
}

/// `user` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum UserCommand {
    /// Create an operator. The password (12 to 1024 bytes) is read from standard input: typed
    /// without echo on a terminal, or the first line of a pipe
    /// (`printf '%s\n' "$PW" | hawkbit-compat-server user add alice --role admin`).
    Add {
        /// Login name (1 to 64 characters, no ':').
        name: String,
        /// `admin` may change everything; `readonly` may only read (and never sees target
        /// tokens).
        #[arg(long, value_name = "ROLE", value_parser = ["admin", "readonly"])]
        role: String,
    },
    /// List operators with their role and creation time.
    List,
    /// Delete an operator. The last admin cannot be deleted.
    Remove {
        /// Login name.
        name: String,
    },
}

/// The TOML file. Same keys as the long options, with `_` instead of `-`.
///
/// Deliberately not `Debug`, like [`Cli`].
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// See [`Cli::listen`].
    pub listen: Option<SocketAddr>,
    /// See [`Cli::data_dir`]. Relative paths are relative to the working directory.
    pub data_dir: Option<PathBuf>,
    /// See [`Cli::database_url`].
    pub database_url: Option<String>,
    /// See [`Cli::tenant`].
    pub tenant: Option<String>,
    /// See [`Cli::external_url`].
    pub external_url: Option<String>,
    /// See [`Cli::gateway_token`].
    pub gateway_token: Option<String>,
    /// See [`Cli::poll_interval`].
    pub poll_interval: Option<PollingSleep>,
    /// See [`Cli::rate_limit`].
    pub rate_limit: Option<u32>,
    /// See [`Cli::poll_cache_ms`].
    pub poll_cache_ms: Option<u32>,
    /// See [`Cli::admin_password`].
    pub admin_password: Option<String>,
    /// See [`Cli::keyring`].
    pub keyring: Option<PathBuf>,
    /// See [`Cli::check_purpose`].
    pub check_purpose: Option<String>,
    /// See [`Cli::rollout_interval`].
    pub rollout_interval: Option<u64>,
    /// See [`Cli::rollout_approval`].
    pub rollout_approval: Option<bool>,
    /// See [`Cli::confirmation_flow`].
    pub confirmation_flow: Option<bool>,
    /// See [`Cli::tls_cert`].
    pub tls_cert: Option<PathBuf>,
    /// See [`Cli::tls_key`].
    pub tls_key: Option<PathBuf>,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys or bad values.
    #[error("invalid config file {path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: toml::de::Error,
    },
    /// A value is unusable.
    #[error("invalid setting {key}: {reason}")]
    Invalid {
        /// The setting.
        key: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory (database and artifacts).
    pub data_dir: PathBuf,
    /// Database URL.
    pub database_url: String,
    /// Tenant name.
    pub tenant: String,
    /// Public base URL without trailing slash, if configured.
    pub external_url: Option<String>,
    /// Gateway token, if enabled.
    pub gateway_token: Option<Secret>,
    /// Polling interval sent to devices.
    pub poll_interval: PollingSleep,
    /// DDI requests per second per client IP; 0 disables the limit.
    pub rate_limit: u32,
    /// PostgreSQL: longest reuse of a base-poll answer in ms; 0 disables reuse there.
    pub poll_cache_ms: u32,
    /// Bootstrap password for the `admin` operator.
    pub admin_password: Option<Secret>,
    /// Keyring for verifying uploaded RAUC bundles; without one, bundle uploads are refused.
    pub keyring: Option<PathBuf>,
    /// Certificate purpose required of bundle signers (RAUC's `check-purpose`).
    pub check_purpose: String,
    /// Time between two steps of the rollout engine.
    pub rollout_interval: std::time::Duration,
    /// Whether new rollouts wait for approval.
    pub rollout_approval: bool,
    /// Whether assignments wait for the device's confirmation by default.
    pub confirmation_flow: bool,
    /// Certificate chain and key for serving HTTPS directly; `None` serves plain HTTP.
    pub tls: Option<TlsFiles>,
}

/// PEM files for serving HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

impl Config {
    /// Merges command line/environment, the optional file and the defaults.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the file is unreadable or invalid, or a value is unusable.
    pub fn load(cli: Cli) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => Self::read_file(path)?,
            None => FileConfig::default(),
        };
        Self::merge(cli, file)
    }

    fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    fn merge(cli: Cli, file: FileConfig) -> Result<Self, ConfigError> {
        let listen = cli
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default address"));
        let data_dir = cli
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| DEFAULT_DATA_DIR.into());
        let database_url = cli
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("server.db").display()));
        let tenant = cli
            .tenant
            .or(file.tenant)
            .unwrap_or_else(|| DEFAULT_TENANT.into());
        if tenant.is_empty() || tenant.contains('/') {
            return Err(ConfigError::Invalid {
                key: "tenant",
                reason: "must be one path segment",
            });
        }
        let external_url = cli
            .external_url
            .or(file.external_url)
            .map(|u| u.trim_end_matches('/').to_owned());
        if let Some(u) = &external_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    key: "external_url",
                    reason: "must start with http:// or https://",
                });
            }
        }
        let gateway_token = cli.gateway_token.or(file.gateway_token).map(Secret::new);
        if gateway_token
            .as_ref()
            .is_some_and(|t| t.expose().len() < 16)
        {
            return Err(ConfigError::Invalid {
                key: "gateway_token",
                reason: "must be at least 16 characters",
            });
        }
        let poll_interval = cli.poll_interval.or(file.poll_interval).unwrap_or_else(|| {
            DEFAULT_POLL_INTERVAL
                .parse()
                .expect("valid default interval")
        });
        let tls = match (cli.tls_cert.or(file.tls_cert), cli.tls_key.or(file.tls_key)) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid {
                    key: "tls_cert/tls_key",
                    reason: "both or neither must be set",
                })
            }
        };
        let rollout_interval = cli
            .rollout_interval
            .or(file.rollout_interval)
            .unwrap_or(DEFAULT_ROLLOUT_INTERVAL_SECS);
        if !(1..=3600).contains(&rollout_interval) {
            return Err(ConfigError::Invalid {
                key: "rollout_interval",
                reason: "must be 1 to 3600 seconds",
            });
        }
        let poll_cache_ms = cli.poll_cache_ms.or(file.poll_cache_ms).unwrap_or(0);
        if poll_cache_ms > 60_000 {
            return Err(ConfigError::Invalid {
                key: "poll_cache_ms",
                reason: "must be at most 60000",
            });
        }
        Ok(Config {
            poll_cache_ms,
            tls,
            listen,
            data_dir,
            database_url,
            tenant,
            external_url,
            gateway_token,
            poll_interval,
            rate_limit: cli
                .rate_limit
                .or(file.rate_limit)
                .unwrap_or(DEFAULT_RATE_LIMIT),
            admin_password: cli.admin_password.or(file.admin_password).map(Secret::new),
            keyring: cli.keyring.or(file.keyring),
            check_purpose: cli
                .check_purpose
                .or(file.check_purpose)
                .unwrap_or_else(|| "codesign".into()),
            rollout_interval: std::time::Duration::from_secs(rollout_interval),
            rollout_approval: cli
                .rollout_approval
                .or(file.rollout_approval)
                .unwrap_or(false),
            confirmation_flow: cli
                .confirmation_flow
                .or(file.confirmation_flow)
                .unwrap_or(false),
        })
    }

    /// Where artifact files are kept.
    pub fn artifact_dir(&self) -> PathBuf {
        self.data_dir.join("artifacts")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn no_arguments_gives_documented_defaults() {
        let c = Config::merge(Cli::default(), FileConfig::default()).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from("data"));
        assert_eq!(c.database_url, "sqlite://data/server.db");
        assert_eq!(c.tenant, "DEFAULT");
        assert_eq!(c.poll_interval.to_string(), "00:05:00");
        assert_eq!(c.rate_limit, 200);
        assert!(c.gateway_token.is_none());
        assert_eq!(c.artifact_dir(), PathBuf::from("data/artifacts"));
        assert!(c.tls.is_none());
    }

    #[test]
    fn tls_needs_both_files() {
        let half = FileConfig {
            tls_cert: Some("/etc/ota/cert.pem".into()),
            ..Default::default()
        };
        assert!(matches!(
            Config::merge(Cli::default(), half).unwrap_err(),
            ConfigError::Invalid {
                key: "tls_cert/tls_key",
                ..
            }
        ));
        let cli = Cli::try_parse_from(["x", "--tls-cert", "c.pem", "--tls-key", "k.pem"]).unwrap();
        let c = Config::merge(cli, FileConfig::default()).unwrap();
        assert_eq!(
            c.tls,
            Some(TlsFiles {
                cert: "c.pem".into(),
                key: "k.pem".into()
            })
        );
    }

    #[test]
    fn user_commands_parse() {
        let cli = Cli::try_parse_from([
            "x",
            "--data-dir",
            "/d",
            "user",
            "add",
            "bob",
            "--role",
            "readonly",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::User(UserCommand::Add { ref name, ref role })) if name == "bob" && role == "readonly"
        ));
        assert!(Cli::try_parse_from(["x", "user", "add", "bob", "--role", "root"]).is_err());
        assert!(Cli::try_parse_from(["x", "user", "add", "bob"]).is_err());
    }

    #[test]
    fn command_line_beats_file_beats_default() {
        let file: FileConfig = toml::from_str(
            "listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/ota\"\ntenant = \"acme\"\npoll_interval = \"00:01:00\"\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from(["x", "--listen", "127.0.0.1:1234"]).unwrap();
        let c = Config::merge(cli, file).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:1234");
        assert_eq!(c.data_dir, PathBuf::from("/srv/ota"));
        assert_eq!(c.database_url, "sqlite:///srv/ota/server.db");
        assert_eq!(c.tenant, "acme");
        assert_eq!(c.poll_interval.to_string(), "00:01:00");
    }

    #[test]
    fn file_rejects_unknown_keys_and_bad_values() {
        assert!(toml::from_str::<FileConfig>("listn = \"0.0.0.0:1\"").is_err());
        assert!(toml::from_str::<FileConfig>("poll_interval = \"24:00:00\"").is_err());
        assert!(toml::from_str::<FileConfig>("listen = \"nope\"").is_err());
    }

    #[test]
    fn invalid_values_are_reported() {
        let bad = |f: FileConfig| Config::merge(Cli::default(), f).unwrap_err();
        assert!(matches!(
            bad(FileConfig {
                gateway_token: Some("short".into()),
                ..Default::default()
            }),
            ConfigError::Invalid {
                key: "gateway_token",
                ..
            }
        ));
        assert!(matches!(
            bad(FileConfig {
                external_url: Some("ftp://x".into()),
                ..Default::default()
            }),
            ConfigError::Invalid {
                key: "external_url",
                ..
            }
        ));
        assert!(matches!(
            bad(FileConfig {
                tenant: Some("a/b".into()),
                ..Default::default()
            }),
            ConfigError::Invalid { key: "tenant", .. }
        ));
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let file = FileConfig {
            gateway_token: Some("gateway-secret-0123456789".into()),
            admin_password: Some("admin-secret".into()),
            ..Default::default()
        };
        let c = Config::merge(Cli::default(), file).unwrap();
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("gateway-secret") && !dbg.contains("admin-secret"),
            "{dbg}"
        );
    }

    #[test]
    fn missing_file_is_an_error_naming_it() {
        let cli = Cli {
            config: Some("/nonexistent/ota.toml".into()),
            ..Default::default()
        };
        let err = Config::load(cli).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ota.toml"));
    }
}
