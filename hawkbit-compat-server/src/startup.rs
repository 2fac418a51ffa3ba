//! Building and running the server.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api::{self, AppState, RateLimiter};
use crate::artifacts::{self, ArtifactStore};
use crate::config::Config;
use crate::store::{self, Store};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error("cannot open the database")]
    Store(#[from] store::Error),
    /// The artifact folder could not be opened.
    #[error("cannot open the artifact store")]
    Artifacts(#[from] artifacts::Error),
    /// The bundle keyring could not be loaded.
    #[error("cannot load the bundle keyring")]
    Keyring(#[source] ota_bundle::Error),
    /// The bootstrap admin password could not be hashed.
    #[error("cannot hash the admin password")]
    Password(#[source] crate::password::HashError),
    /// The TLS certificate or key could not be loaded.
    #[error("cannot load the TLS certificate {cert} or key {key}")]
    Tls {
        /// Certificate file.
        cert: std::path::PathBuf,
        /// Key file.
        key: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Another server already serves this SQLite database.
    #[error("another server is already using the database {path} (SQLite allows one server per database file; use PostgreSQL for several)")]
    AlreadyRunning {
        /// The lock file held by the other server.
        path: std::path::PathBuf,
        /// The cause (would block, or why the lock file could not be opened).
        #[source]
        source: std::io::Error,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Takes the lock that makes a server the only one on its SQLite database: the server keeps
/// poll answers in memory until it writes (see `api::ddi::poll_view`), which is exact only while
/// no other server writes the same file. The lock is an advisory `flock` on `<database>.lock`,
/// released by the OS when the process ends however it ends. `None` for PostgreSQL and for
/// in-memory databases.
#[allow(unsafe_code)] // one flock(2) call, see below
fn lock_sqlite_database(url: &str) -> Result<Option<std::fs::File>, StartupError> {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Ok(None);
    };
    let path = rest.trim_start_matches("//");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return Ok(None);
    }
    let lock_path = std::path::PathBuf::from(format!("{path}.lock"));
    let fail = |source| StartupError::AlreadyRunning {
        path: lock_path.clone(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(fail)?;
    // flock(2) directly: std's File::try_lock needs a newer Rust than the crate's minimum.
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor owned by `file`, which outlives the call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        Ok(Some(file))
    } else {
        Err(fail(std::io::Error::last_os_error()))
    }
}

/// Creates the `admin` operator from the configured password when there is no operator yet, so
/// a fresh installation can be administered. An existing account is never changed.
async fn bootstrap_admin(store: &Store, config: &Config) -> Result<(), StartupError> {
    let Some(password) = &config.admin_password else {
        return Ok(());
    };
    if store.operator_count().await? > 0 {
        return Ok(());
    }
    let hash = crate::password::hash(password.expose()).map_err(StartupError::Password)?;
    store
        .create_operator("admin", &hash, store::Role::Admin)
        .await?;
    tracing::info!("created operator admin");
    Ok(())
}

/// A server bound to its address, ready to run. Tests bind port 0 and read
/// [`Application::local_addr`].
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    /// Held while the server runs (SQLite only, see [`lock_sqlite_database`]).
    _instance_lock: Option<std::fs::File>,
}

impl Application {
    /// Creates the data directory, opens database and artifact store (running migrations) and
    /// binds the listen address.
    ///
    /// # Errors
    ///
    /// [`StartupError`].
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartupError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let instance_lock = lock_sqlite_database(&config.database_url)?;
        let store = Store::connect(&config.database_url).await?;
        let artifacts = ArtifactStore::open(config.artifact_dir()).await?;
        // Objects left by uploads that never got their database row (a crash in between).
        let swept = artifacts.sweep_unreferenced(
            &store.artifact_hashes().await?,
            std::time::Duration::from_secs(3600),
        )?;
        if swept > 0 {
            tracing::info!(swept, "removed artifact files no release refers to");
        }
        bootstrap_admin(&store, &config).await?;
        // Loaded before binding, so a bad certificate fails the start, not the first handshake.
        let tls = match &config.tls {
            Some(files) => Some(
                axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert, &files.key)
                    .await
                    .map_err(|source| StartupError::Tls {
                        cert: files.cert.clone(),
                        key: files.key.clone(),
                        source,
                    })?,
            ),
            None => None,
        };
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartupError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let limiter = Arc::new(RateLimiter::new(config.rate_limit));
        let bundle_verify = match &config.keyring {
            Some(path) => {
                let keyring = ota_bundle::Keyring::load(path).map_err(StartupError::Keyring)?;
                let mut opts = ota_bundle::VerifyOptions::new(keyring);
                opts.purpose = config.check_purpose.parse().unwrap_or_default();
                Some(Arc::new(opts))
            }
            None => {
                tracing::warn!("no keyring configured: RAUC bundle uploads will be refused");
                None
            }
        };
        let state = AppState {
            store,
            artifacts,
            config: Arc::new(config),
            limiter,
            bundle_verify,
            metrics: Arc::default(),
        };
        Ok(Application {
            listener,
            state,
            tls,
            _instance_lock: instance_lock,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// The database (tests use it to arrange data).
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The artifact store (tests use it to arrange data).
    pub fn artifacts(&self) -> &ArtifactStore {
        &self.state.artifacts
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    ///
    /// # Errors
    ///
    /// I/O errors of the listener.
    pub async fn run_until<F>(self, shutdown: F) -> std::io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let store = self.state.store.clone();
        // The rollout engine runs beside the listener and is aborted when serving ends; an
        // interrupted step only rolls back its open transaction.
        let engine = tokio::spawn(crate::rollout::run(
            store.clone(),
            self.state.config.rollout_interval,
            std::future::pending(),
        ));
        let app = api::router(self.state);
        let addr = self.listener.local_addr()?;
        match self.tls {
            None => {
                tracing::info!(%addr, "listening (HTTP)");
                axum::serve(
                    self.listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(shutdown)
                .await?;
            }
            Some(tls) => {
                tracing::info!(%addr, "listening (HTTPS)");
                let handle = axum_server::Handle::new();
                let on_signal = handle.clone();
                tokio::spawn(async move {
                    shutdown.await;
                    // In-flight requests get this long; then connections are closed.
                    on_signal.graceful_shutdown(Some(std::time::Duration::from_secs(30)));
                });
                axum_server::from_tcp_rustls(self.listener.into_std()?, tls)?
                    .handle(handle)
                    .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                    .await?;
            }
        }
        engine.abort();
        store.close().await;
        Ok(())
    }
}
