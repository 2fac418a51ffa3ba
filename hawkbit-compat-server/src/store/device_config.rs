//! Per-device configuration: key/value pairs on three scopes (tenant, saved target filter,
//! target), each scope versioned (every change is a new revision; old revisions stay as
//! history), merged per device with the precedence target > filter > tenant.
//!
//! A device sees one number, the revision of its *merged* configuration
//! ([`DeviceConfigState::revision`]). It is bumped whenever the merge result changes, whatever
//! caused it (a scope edited, the device starting or stopping to match a filter), and is
//! compared with what the device last confirmed.
//!
//! Secret values are stored like others but never leave the server except towards the device
//! they are for; nothing in this module logs values.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::filters::parse_stored;
use super::{col, now_ms, page, Error, Store};

/// Where a set of key/values is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigScope {
    /// Every device.
    Tenant,
    /// Devices matching a saved target filter.
    Filter(i64),
    /// One device.
    Target(i64),
}

impl ConfigScope {
    fn key(self) -> (&'static str, i64) {
        match self {
            ConfigScope::Tenant => ("tenant", 0),
            ConfigScope::Filter(id) => ("filter", id),
            ConfigScope::Target(id) => ("target", id),
        }
    }
}

/// One value. `Debug` hides secret values.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigValue {
    /// The value.
    pub value: String,
    /// Never shown to operators or written to logs; delivered only to the device.
    #[serde(default)]
    pub secret: bool,
}

impl fmt::Debug for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = if self.secret { "<secret>" } else { &self.value };
        f.debug_struct("ConfigValue")
            .field("value", &shown)
            .field("secret", &self.secret)
            .finish()
    }
}

/// One revision of a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRevision {
    /// 1, 2, ... per scope.
    pub revision: i64,
    /// The complete key/values of this revision.
    pub entries: BTreeMap<String, ConfigValue>,
    /// Operator who saved it.
    pub created_by: String,
    /// When.
    pub created_at: i64,
}

/// Where a merged value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Tenant-wide.
    Tenant,
    /// A saved filter (its id).
    Filter(i64),
    /// The target itself.
    Target,
}

/// The merged configuration of one device.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EffectiveConfig {
    /// Key to value and source.
    pub entries: BTreeMap<String, (ConfigValue, ConfigSource)>,
}

impl EffectiveConfig {
    /// A stable digest of the merged key/values (including secret values, which only the
    /// server sees).
    fn digest(&self) -> String {
        let plain: BTreeMap<&str, (&str, bool)> = self
            .entries
            .iter()
            .map(|(k, (v, _))| (k.as_str(), (v.value.as_str(), v.secret)))
            .collect();
        let json = serde_json::to_vec(&plain).unwrap_or_default();
        hex::encode(openssl::sha::sha256(&json))
    }
}

/// What the server knows about a device's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceConfigState {
    /// Revision of the device's merged configuration (0: never had any).
    pub revision: i64,
    /// Last revision the device confirmed.
    pub applied_revision: i64,
    /// Error the device reported for its last attempt, if any.
    pub applied_error: Option<String>,
    /// When the device last reported.
    pub applied_at: Option<i64>,
}

impl DeviceConfigState {
    /// The device runs the current revision.
    pub fn up_to_date(&self) -> bool {
        self.applied_revision >= self.revision && self.applied_error.is_none()
    }
}

fn decode_entries(s: &str) -> Result<BTreeMap<String, ConfigValue>, Error> {
    serde_json::from_str(s).map_err(|e| Error::Corrupt(format!("config entries: {e}")))
}

impl Store {
    /// Saves a new revision of a scope: the complete new key/values. Returns the revision.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] if a concurrent save took the same revision number.
    pub async fn put_config(
        &self,
        scope: ConfigScope,
        entries: &BTreeMap<String, ConfigValue>,
        created_by: &str,
    ) -> Result<i64, Error> {
        let _changing = match scope {
            ConfigScope::Target(id) => self.changing_target(id),
            ConfigScope::Tenant | ConfigScope::Filter(_) => self.changing(),
        };
        let (name, id) = scope.key();
        let json = serde_json::to_string(entries)
            .map_err(|e| Error::Corrupt(format!("config entries: {e}")))?;
        let mut tx = self.begin_write().await?;
        let current: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(revision) FROM config_revision WHERE scope = $1 AND scope_id = $2",
        )
        .bind(name)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let revision = current.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO config_revision (scope, scope_id, revision, entries, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(name)
        .bind(id)
        .bind(revision)
        .bind(json)
        .bind(created_by)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(revision)
    }

    /// The current revision of a scope, if it ever had one.
    pub async fn config(&self, scope: ConfigScope) -> Result<Option<ConfigRevision>, Error> {
        // On every base poll (twice): one indexed lookup, no count.
        let (name, id) = scope.key();
        let row = sqlx::query(
            "SELECT revision, entries, created_by, created_at FROM config_revision \
             WHERE scope = $1 AND scope_id = $2 ORDER BY revision DESC LIMIT 1",
        )
        .bind(name)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ConfigRevision {
                revision: col(&r, "revision")?,
                entries: decode_entries(&col::<String>(&r, "entries")?)?,
                created_by: col(&r, "created_by")?,
                created_at: col(&r, "created_at")?,
            })
        })
        .transpose()
    }

    /// Revisions of a scope, newest first, and their count.
    pub async fn config_history(
        &self,
        scope: ConfigScope,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ConfigRevision>, i64), Error> {
        let (name, id) = scope.key();
        let (offset, limit) = page(offset, limit);
        let rows = sqlx::query(
            "SELECT revision, entries, created_by, created_at FROM config_revision \
             WHERE scope = $1 AND scope_id = $2 ORDER BY revision DESC LIMIT $3 OFFSET $4",
        )
        .bind(name)
        .bind(id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM config_revision WHERE scope = $1 AND scope_id = $2",
        )
        .bind(name)
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        let revs = rows
            .iter()
            .map(|r| {
                Ok(ConfigRevision {
                    revision: col(r, "revision")?,
                    entries: decode_entries(&col::<String>(r, "entries")?)?,
                    created_by: col(r, "created_by")?,
                    created_at: col(r, "created_at")?,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok((revs, total))
    }

    /// The merged configuration of a target: tenant values, overridden by the values of every
    /// saved filter the target matches (in ascending filter id, so a newer filter overrides an
    /// older one), overridden by the target's own values.
    pub async fn effective_config(&self, target_id: i64) -> Result<EffectiveConfig, Error> {
        let mut out = EffectiveConfig::default();
        if let Some(t) = self.config(ConfigScope::Tenant).await? {
            for (k, v) in t.entries {
                out.entries.insert(k, (v, ConfigSource::Tenant));
            }
        }
        let filters = sqlx::query(
            "SELECT f.target_filter_id, f.query, c.entries FROM target_filter f \
             JOIN config_revision c ON c.scope = 'filter' AND c.scope_id = f.target_filter_id \
             WHERE c.revision = (SELECT MAX(c2.revision) FROM config_revision c2 \
               WHERE c2.scope = 'filter' AND c2.scope_id = f.target_filter_id) \
             ORDER BY f.target_filter_id",
        )
        .fetch_all(&self.pool)
        .await?;
        for r in &filters {
            let entries = decode_entries(&col::<String>(r, "entries")?)?;
            if entries.is_empty() {
                continue;
            }
            let q = parse_stored(&col::<String>(r, "query")?)?;
            if self.target_matches(target_id, &q).await? {
                let id: i64 = col(r, "target_filter_id")?;
                for (k, v) in entries {
                    out.entries.insert(k, (v, ConfigSource::Filter(id)));
                }
            }
        }
        if let Some(t) = self.config(ConfigScope::Target(target_id)).await? {
            for (k, v) in t.entries {
                out.entries.insert(k, (v, ConfigSource::Target));
            }
        }
        Ok(out)
    }

    /// Computes the target's merged configuration and bumps its revision if the merge changed
    /// since the revision was last assigned. A device that never had configuration stays at
    /// revision 0.
    pub async fn refresh_device_config(
        &self,
        target_id: i64,
    ) -> Result<(DeviceConfigState, EffectiveConfig), Error> {
        let effective = self.effective_config(target_id).await?;
        let digest = effective.digest();
        let existing = self.device_config_state(target_id).await?;
        if existing.is_none() && effective.entries.is_empty() {
            return Ok((DeviceConfigState::default(), effective));
        }
        // One statement: concurrent polls of the same device bump the revision once, because
        // the second sees the new digest and its WHERE does not match. Only a real change moves
        // the change generation: this runs on every poll that is not answered from memory.
        let changed = sqlx::query(
            "INSERT INTO target_config_state (target_id, revision, config_hash, updated_at) \
             VALUES ($1, 1, $2, $3) ON CONFLICT (target_id) DO UPDATE \
             SET revision = target_config_state.revision + 1, config_hash = excluded.config_hash, \
             updated_at = excluded.updated_at \
             WHERE target_config_state.config_hash <> excluded.config_hash",
        )
        .bind(target_id)
        .bind(&digest)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        if changed.rows_affected() > 0 {
            self.changes.bump(Some(target_id));
        }
        let state = self
            .device_config_state(target_id)
            .await?
            .ok_or(Error::NotFound("target"))?;
        Ok((state, effective))
    }

    /// The stored configuration state of a device (without recomputing the merge).
    pub async fn device_config_state(
        &self,
        target_id: i64,
    ) -> Result<Option<DeviceConfigState>, Error> {
        let row = sqlx::query(
            "SELECT revision, applied_revision, applied_error, applied_at FROM target_config_state \
             WHERE target_id = $1",
        )
        .bind(target_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(DeviceConfigState {
                revision: col(&r, "revision")?,
                applied_revision: col(&r, "applied_revision")?,
                applied_error: col(&r, "applied_error")?,
                applied_at: col(&r, "applied_at")?,
            })
        })
        .transpose()
    }

    /// Records the device's report: `error == None` means it applied `revision`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if `revision` is newer than the device's current one.
    pub async fn record_config_applied(
        &self,
        target_id: i64,
        revision: i64,
        error: Option<&str>,
    ) -> Result<DeviceConfigState, Error> {
        let _changing = self.changing_target(target_id);
        let state = self
            .device_config_state(target_id)
            .await?
            .ok_or(Error::InvalidState(
                "the device has no configuration revision",
            ))?;
        if revision > state.revision || revision < 1 {
            return Err(Error::InvalidState("unknown configuration revision"));
        }
        let now = now_ms();
        match error {
            None => {
                sqlx::query(
                    "UPDATE target_config_state SET applied_revision = \
                     CASE WHEN applied_revision > $1 THEN applied_revision ELSE $1 END, \
                     applied_error = NULL, applied_at = $2 WHERE target_id = $3",
                )
                .bind(revision)
                .bind(now)
                .bind(target_id)
                .execute(&self.pool)
                .await?;
            }
            Some(e) => {
                sqlx::query(
                    "UPDATE target_config_state SET applied_error = $1, applied_at = $2 \
                     WHERE target_id = $3",
                )
                .bind(format!("revision {revision}: {e}"))
                .bind(now)
                .bind(target_id)
                .execute(&self.pool)
                .await?;
            }
        }
        self.device_config_state(target_id)
            .await?
            .ok_or(Error::NotFound("target"))
    }
}
