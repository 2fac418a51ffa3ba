//! Persistence. **All SQL of the server lives in this folder.**
//!
//! One [`Store`] works on SQLite (the default, a file in the data directory) and on PostgreSQL,
//! chosen by the database URL. It uses sqlx's `Any` driver with runtime-checked queries rather
//! than the compile-time `query!` macros, because those check against the single database named
//! by `DATABASE_URL` at build time and cannot serve two backends from one code path. The price is
//! that every query is written in the SQL both backends understand (`$1` placeholders,
//! `RETURNING`, `BIGINT` integers, booleans and times as integers) and that the store test suite
//! runs against both backends to prove it.
//!
//! Migrations are embedded, one folder per backend (`migrations/sqlite`, `migrations/postgres`)
//! with the same version numbers and the same meaning, and run on [`Store::connect`].

mod actions;
mod artifacts;
mod changes;
mod device_config;
mod distributions;
pub(crate) mod filters;
mod models;
mod modules;
mod operators;
mod poll_marks;
mod rollouts;
mod stats;
mod targets;

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::AnyPool;

pub use device_config::{
    ConfigRevision, ConfigScope, ConfigSource, ConfigValue, DeviceConfigState, EffectiveConfig,
};
pub use filters::{Incompatible, TargetFilter, TargetTag, TargetType};
pub use models::*;
pub use rollouts::{
    ErrorAction, GroupStatus, GroupTarget, NewRollout, NewRolloutGroup, Rollout, RolloutGroup,
    RolloutStatus, RolloutTx, StatusCounts, SuccessAction,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file (default).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::UnsupportedUrl)
        }
    }
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database URL is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL (expected sqlite: or postgres:)")]
    UnsupportedUrl,
    /// A uniqueness constraint was violated (duplicate controller id, file name, ...).
    #[error("a record with the same key already exists")]
    Conflict,
    /// A referenced row does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The requested change is not allowed in the record's current state.
    #[error("{0}")]
    InvalidState(&'static str),
    /// Running the embedded migrations failed.
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database error.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// A stored value could not be decoded (corrupt row or schema drift).
    #[error("stored value is invalid: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db)
                if db.is_unique_violation() || db.is_foreign_key_violation() =>
            {
                if db.is_unique_violation() {
                    Error::Conflict
                } else {
                    Error::NotFound("referenced record")
                }
            }
            sqlx::Error::RowNotFound => Error::NotFound("record"),
            _ => Error::Database(e),
        }
    }
}

/// Handle to the database; cheap to clone (it wraps a connection pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Buffered last-poll times (see `poll_marks.rs`).
    poll_marks: std::sync::Arc<poll_marks::PollMarks>,
    /// Moves after every write (see `changes.rs`).
    changes: changes::Changes,
}

impl Store {
    /// Connects to `url`, creating an SQLite file if it does not exist, and runs migrations.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedUrl`], [`Error::Database`] when the database cannot be reached,
    /// [`Error::Migrate`] when the schema cannot be brought up to date.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let in_memory = backend == Backend::Sqlite && url.contains(":memory:");
        let (url, max_conns) = match backend {
            // Every connection to `:memory:` is its own empty database, so an in-memory store
            // (handy for experiments) must live on exactly one connection that is never closed.
            Backend::Sqlite if in_memory => (url.to_owned(), 1),
            // `mode=rwc` creates the file on first start. SQLite serializes writers anyway, so
            // a few connections are enough; more only add lock contention.
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                (format!("{url}{sep}mode=rwc"), 4)
            }
            Backend::Sqlite => (url.to_owned(), 4),
            Backend::Postgres => (url.to_owned(), 16),
        };
        let mut options = AnyPoolOptions::new().max_connections(max_conns);
        if in_memory {
            options = options
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool = options
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets pollers read while an upload or feedback writes. The sqlx
                        // SQLite driver already enables foreign keys and a busy timeout.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        // In WAL mode NORMAL is still safe against corruption and against
                        // application crashes; only a power cut can undo the last commits.
                        // FULL would fsync on every commit and serialize every write on it.
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        let store = Store {
            pool,
            backend,
            poll_marks: Default::default(),
            changes: Default::default(),
        };
        store.spawn_poll_flusher();
        Ok(store)
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The global change generation: it moves after every committed write of this process
    /// that can change what many devices are told. Together with [`Self::target_generation`]
    /// it covers every write except last-poll times. Note both before reading; what was read
    /// stays exact while they are unchanged. Writes of other server instances sharing a
    /// PostgreSQL database move neither (see `changes.rs`).
    pub fn generation(&self) -> u64 {
        self.changes.generation()
    }

    /// The change generation of one target: it moves after every committed write that
    /// concerns only this device (and, rarely, another sharing its counter).
    pub fn target_generation(&self, target_id: i64) -> u64 {
        self.changes.target_generation(target_id)
    }

    /// Held by every write that may concern many targets; moves the global generation when
    /// dropped (after the commit).
    fn changing(&self) -> changes::ChangeGuard {
        self.changes.guard()
    }

    /// Held by every write that concerns one target only.
    fn changing_target(&self, target_id: i64) -> changes::ChangeGuard {
        self.changes.guard().only_target(target_id)
    }

    /// Checks that the database answers (for health checks).
    pub async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Writes pending poll times, then closes all connections.
    pub async fn close(&self) {
        if let Err(e) = self.flush_poll_marks().await {
            tracing::warn!(error = %e, "cannot write last-poll times");
        }
        self.pool.close().await;
    }
}

/// Milliseconds since the Unix epoch, the time format of every stored timestamp.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Decodes a column the store wrote itself; failure means a corrupt row or schema drift.
fn col<'r, T>(row: &'r AnyRow, name: &str) -> Result<T, Error>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    row.try_get(name)
        .map_err(|e| Error::Corrupt(format!("column {name}: {e}")))
}

/// Parses an enum stored as text.
fn parse_col<T: FromStr>(row: &AnyRow, name: &str) -> Result<T, Error> {
    let s: String = col(row, name)?;
    s.parse()
        .map_err(|_| Error::Corrupt(format!("column {name}: unknown value {s:?}")))
}

/// Clamps paging parameters to sane values.
fn page(offset: i64, limit: i64) -> (i64, i64) {
    (offset.max(0), limit.clamp(1, 500))
}
