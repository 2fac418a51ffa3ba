//! Last-poll times, written in batches.
//!
//! Every base poll records when the device was last seen. Writing that row on every poll would
//! make the hottest, otherwise read-only request a database write, which SQLite serializes, so
//! polls only note the time in memory and [`Store::flush_poll_marks`] writes all pending times
//! in one transaction (every second from a background task, and on [`Store::close`]). Reads of
//! a target see the pending time, so the delay is invisible to the API. A crash loses at most
//! the last second of last-seen times, never anything else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::{Error, Store, Target};

/// Targets per UPDATE statement when flushing (two parameters each, well below the parameter
/// limits of SQLite and PostgreSQL).
const FLUSH_CHUNK: usize = 500;

/// How often pending poll times are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Pending `target_id -> last poll (ms)`.
#[derive(Debug, Default)]
pub(crate) struct PollMarks {
    pending: Mutex<HashMap<i64, i64>>,
}

impl PollMarks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, i64>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store {
    /// Records a base poll (buffered; see the module documentation).
    pub async fn touch_target(&self, target_id: i64, at: i64) -> Result<(), Error> {
        let mut pending = self.poll_marks.lock();
        let slot = pending.entry(target_id).or_insert(at);
        *slot = (*slot).max(at);
        Ok(())
    }

    /// Writes all pending poll times in one transaction; returns how many.
    pub async fn flush_poll_marks(&self) -> Result<usize, Error> {
        let batch: Vec<(i64, i64)> = {
            let pending = self.poll_marks.lock();
            if pending.is_empty() {
                return Ok(0);
            }
            pending.iter().map(|(k, v)| (*k, *v)).collect()
        };
        // A few statements of many rows each: one statement per target would cost a database
        // round trip per polling device every second.
        let mut tx = self.pool.begin().await?;
        for chunk in batch.chunks(FLUSH_CHUNK) {
            let mut sql = String::from("UPDATE target SET last_poll_at = CASE target_id");
            for i in 0..chunk.len() {
                sql.push_str(&format!(" WHEN ${} THEN ${}", 2 * i + 1, 2 * i + 2));
            }
            sql.push_str(" ELSE last_poll_at END WHERE target_id IN (");
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("${}", 2 * i + 1));
            }
            sql.push(')');
            let mut q = sqlx::query(&sql);
            for (target_id, at) in chunk {
                q = q.bind(*target_id).bind(*at);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        // Forget what was written, unless a newer poll came in meanwhile.
        let mut pending = self.poll_marks.lock();
        for (target_id, at) in &batch {
            if pending.get(target_id) == Some(at) {
                pending.remove(target_id);
            }
        }
        Ok(batch.len())
    }

    /// Shows a pending poll time on a target read from the database.
    pub(super) fn with_pending_poll(&self, mut t: Target) -> Target {
        if let Some(at) = self.poll_marks.lock().get(&t.target_id) {
            t.last_poll_at = Some(t.last_poll_at.map_or(*at, |db| db.max(*at)));
        }
        t
    }

    /// Starts the background task that flushes poll times every [`FLUSH_INTERVAL`]; it ends
    /// when the store is closed or dropped.
    pub(super) fn spawn_poll_flusher(&self) {
        let weak: Weak<PollMarks> = Arc::downgrade(&self.poll_marks);
        let pool = self.pool.clone();
        let backend = self.backend;
        let changes = self.changes.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(FLUSH_INTERVAL).await;
                let Some(marks) = weak.upgrade() else { break };
                if pool.is_closed() {
                    break;
                }
                let store = Store {
                    pool: pool.clone(),
                    backend,
                    poll_marks: marks,
                    changes: changes.clone(),
                };
                if let Err(e) = store.flush_poll_marks().await {
                    tracing::warn!(error = %e, "cannot write last-poll times");
                }
            }
        });
    }
}
