//! Rollouts, their groups and the targets in each group, plus auto-assignment.
//!
//! Concurrency: everything the rollout engine changes for one rollout happens in one
//! transaction that first locks the rollout row ([`Store::lock_rollout`]). On PostgreSQL that is
//! `SELECT ... FOR UPDATE SKIP LOCKED`, so a second server instance skips a rollout the first is
//! working on instead of waiting for it; on SQLite the transaction is `BEGIN IMMEDIATE`, which
//! takes SQLite's single write lock before anything is read, so the state it then reads cannot
//! change under it. Independently of the locks, the unique indexes on `action (rollout_group_id,
//! target_id)` and `action (assignment_key)` make a double assignment impossible: inserts use
//! `ON CONFLICT DO NOTHING`.
//!
//! Assignments are set-based (`INSERT ... SELECT`), so starting a group of 10,000 targets is a
//! handful of statements, not 10,000 round trips.

use std::fmt;
use std::str::FromStr;

use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::filters::{parse_stored, push_compatible, push_development_exclusion, push_query, Sql};
use super::{col, page, parse_col, ActionType, Backend, Error, Store};

macro_rules! state_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            /// The stored spelling (lower case; the API shows it upper case, as hawkBit does).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                let lower = s.to_ascii_lowercase();
                match lower.as_str() { $($text => Ok($name::$variant),)+ _ => Err(()) }
            }
        }
    };
}

state_enum! {
    /// Life cycle of a rollout (hawkBit's `RolloutStatus`).
    RolloutStatus {
        /// Targets are being put into groups.
        Creating = "creating",
        /// Waiting for an approver (when approval is enabled).
        WaitingForApproval = "waiting_for_approval",
        /// The approver said no; final.
        ApprovalDenied = "approval_denied",
        /// Groups are filled; can be started (or starts itself at `startAt`).
        Ready = "ready",
        /// Start requested; the engine starts the first group.
        Starting = "starting",
        /// Groups are being worked through.
        Running = "running",
        /// Stopped by the operator or by an error or success action `pause`; resumable.
        Paused = "paused",
        /// Stopped for good; open actions were canceled.
        Stopped = "stopped",
        /// Every group is done.
        Finished = "finished",
        /// Deleted after it had created actions (kept for the action history).
        Deleted = "deleted",
    }
}

state_enum! {
    /// Life cycle of a rollout group (hawkBit's `RolloutGroupStatus`).
    GroupStatus {
        /// Being filled.
        Creating = "creating",
        /// Filled; the rollout is not started.
        Ready = "ready",
        /// Waits for its turn.
        Scheduled = "scheduled",
        /// Its actions exist.
        Running = "running",
        /// All its actions are closed.
        Finished = "finished",
        /// Its error condition was met (or it ended without meeting its success condition).
        Error = "error",
    }
}

state_enum! {
    /// What happens when a group meets its success condition.
    SuccessAction {
        /// Start the next group.
        NextGroup = "nextgroup",
        /// Pause the rollout; resuming starts the next group.
        Pause = "pause",
    }
}

state_enum! {
    /// What happens when a group meets its error condition.
    ErrorAction {
        /// Pause the rollout (the emergency stop).
        Pause = "pause",
    }
}

/// A rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Primary key.
    pub rollout_id: i64,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Which targets take part.
    pub target_filter_query: String,
    /// What they get.
    pub distribution_set_id: i64,
    /// How urgently.
    pub action_type: ActionType,
    /// For time-forced actions: when they become forced.
    pub forced_time: Option<i64>,
    /// Automatic start time.
    pub start_at: Option<i64>,
    /// Life-cycle state.
    pub status: RolloutStatus,
    /// The approver's remark.
    pub approval_remark: Option<String>,
    /// Whether the rollout waits for approval after creation.
    pub approval_required: bool,
    /// Targets in all groups.
    pub total_targets: i64,
    /// Operator who created it.
    pub created_by: String,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// A group of a rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutGroup {
    /// Primary key.
    pub rollout_group_id: i64,
    /// The rollout.
    pub rollout_id: i64,
    /// 0-based order.
    pub position: i64,
    /// Name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Extra query (ANDed with the rollout's); empty for none.
    pub target_filter_query: String,
    /// Share of the remaining matching targets the group takes.
    pub target_percentage: f64,
    /// Success condition: percentage of finished targets.
    pub success_threshold: i64,
    /// What happens on success.
    pub success_action: SuccessAction,
    /// Error condition: percentage of failed targets that is exceeded; `None`: none.
    pub error_threshold: Option<i64>,
    /// What happens on error.
    pub error_action: ErrorAction,
    /// Life-cycle state.
    pub status: GroupStatus,
    /// Targets in the group.
    pub total_targets: i64,
    /// Targets skipped because their hardware is not supported.
    pub skipped_incompatible: i64,
    /// 0: the success action has not run; 1: it has; -1: it paused the rollout and resuming
    /// starts the next group.
    pub next_triggered: i64,
}

/// Input for a group.
#[derive(Debug, Clone)]
pub struct NewRolloutGroup {
    /// Name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Extra query; empty for none.
    pub target_filter_query: String,
    /// Share of the remaining matching targets, 0 to 100.
    pub target_percentage: f64,
    /// Success threshold (percent).
    pub success_threshold: i64,
    /// Success action.
    pub success_action: SuccessAction,
    /// Error threshold (percent).
    pub error_threshold: Option<i64>,
    /// Error action.
    pub error_action: ErrorAction,
}

/// Input for a rollout.
#[derive(Debug, Clone)]
pub struct NewRollout {
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Validated query.
    pub target_filter_query: String,
    /// Distribution set.
    pub distribution_set_id: i64,
    /// Action type.
    pub action_type: ActionType,
    /// For time-forced actions.
    pub forced_time: Option<i64>,
    /// Automatic start.
    pub start_at: Option<i64>,
    /// Needs approval before it can start.
    pub approval_required: bool,
    /// Creator.
    pub created_by: String,
    /// At least one group.
    pub groups: Vec<NewRolloutGroup>,
}

/// Targets per status, as hawkBit's `totalTargetsPerStatus`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// In groups of a rollout that has not started.
    pub notstarted: i64,
    /// In scheduled groups.
    pub scheduled: i64,
    /// Open actions.
    pub running: i64,
    /// Installed.
    pub finished: i64,
    /// Failed.
    pub error: i64,
    /// Canceled.
    pub cancelled: i64,
    /// Skipped: hardware not supported by the distribution set.
    pub notcompatible: i64,
}

impl StatusCounts {
    /// Adds another set of counts.
    pub fn add(&mut self, o: &StatusCounts) {
        self.notstarted += o.notstarted;
        self.scheduled += o.scheduled;
        self.running += o.running;
        self.finished += o.finished;
        self.error += o.error;
        self.cancelled += o.cancelled;
        self.notcompatible += o.notcompatible;
    }
}

/// One target of a group, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTarget {
    /// Controller id.
    pub controller_id: String,
    /// Skipped as incompatible.
    pub skipped: bool,
    /// The action the group created, if started.
    pub action_id: Option<i64>,
    /// Its state.
    pub action_status: Option<String>,
}

const ROLLOUT_COLUMNS: &str = "rollout_id, name, description, target_filter_query, \
     distribution_set_id, action_type, forced_time, start_at, status, approval_remark, \
     approval_required, total_targets, created_by, created_at, updated_at";

const GROUP_COLUMNS: &str = "rollout_group_id, rollout_id, position, name, description, \
     target_filter_query, target_percentage, success_threshold, success_action, error_threshold, \
     error_action, status, total_targets, skipped_incompatible, next_triggered";

fn rollout_from_row(r: &AnyRow) -> Result<Rollout, Error> {
    Ok(Rollout {
        rollout_id: col(r, "rollout_id")?,
        name: col(r, "name")?,
        description: col(r, "description")?,
        target_filter_query: col(r, "target_filter_query")?,
        distribution_set_id: col(r, "distribution_set_id")?,
        action_type: parse_col(r, "action_type")?,
        forced_time: col(r, "forced_time")?,
        start_at: col(r, "start_at")?,
        status: parse_col(r, "status")?,
        approval_remark: col(r, "approval_remark")?,
        approval_required: col::<i64>(r, "approval_required")? != 0,
        total_targets: col(r, "total_targets")?,
        created_by: col(r, "created_by")?,
        created_at: col(r, "created_at")?,
        updated_at: col(r, "updated_at")?,
    })
}

fn group_from_row(r: &AnyRow) -> Result<RolloutGroup, Error> {
    Ok(RolloutGroup {
        rollout_group_id: col(r, "rollout_group_id")?,
        rollout_id: col(r, "rollout_id")?,
        position: col(r, "position")?,
        name: col(r, "name")?,
        description: col(r, "description")?,
        target_filter_query: col(r, "target_filter_query")?,
        target_percentage: col(r, "target_percentage")?,
        success_threshold: col(r, "success_threshold")?,
        success_action: parse_col(r, "success_action")?,
        error_threshold: col(r, "error_threshold")?,
        error_action: parse_col(r, "error_action")?,
        status: parse_col(r, "status")?,
        total_targets: col(r, "total_targets")?,
        skipped_incompatible: col(r, "skipped_incompatible")?,
        next_triggered: col(r, "next_triggered")?,
    })
}

/// Counts the targets of one group per status.
async fn count_group(
    conn: &mut sqlx::AnyConnection,
    g: &RolloutGroup,
) -> Result<StatusCounts, Error> {
    let mut c = StatusCounts {
        notcompatible: g.skipped_incompatible,
        ..StatusCounts::default()
    };
    match g.status {
        GroupStatus::Creating | GroupStatus::Ready => c.notstarted = g.total_targets,
        GroupStatus::Scheduled => c.scheduled = g.total_targets,
        GroupStatus::Running | GroupStatus::Finished | GroupStatus::Error => {
            let rows = sqlx::query(
                "SELECT status, COUNT(*) AS n FROM action WHERE rollout_group_id = $1 GROUP BY status",
            )
            .bind(g.rollout_group_id)
            .fetch_all(&mut *conn)
            .await?;
            for r in &rows {
                let status: String = col(r, "status")?;
                let n: i64 = col(r, "n")?;
                match status.as_str() {
                    "running" | "wait_for_confirmation" | "canceling" => c.running += n,
                    "finished" => c.finished += n,
                    "error" => c.error += n,
                    "canceled" => c.cancelled += n,
                    other => return Err(Error::Corrupt(format!("action status {other:?}"))),
                }
            }
        }
    }
    Ok(c)
}

/// A locked rollout: the engine's and the operator's changes to one rollout go through this.
pub struct RolloutTx {
    tx: Transaction<'static, Any>,
    rollout: Rollout,
    /// Moves the change generation when the lock is released (committed or not).
    _changing: super::changes::ChangeGuard,
}

impl fmt::Debug for RolloutTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RolloutTx")
            .field("rollout", &self.rollout.rollout_id)
            .finish_non_exhaustive()
    }
}

impl RolloutTx {
    /// The rollout as read under the lock.
    pub fn rollout(&self) -> &Rollout {
        &self.rollout
    }

    /// Its groups in order.
    pub async fn groups(&mut self) -> Result<Vec<RolloutGroup>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT {GROUP_COLUMNS} FROM rollout_group WHERE rollout_id = $1 ORDER BY position"
        ))
        .bind(self.rollout.rollout_id)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(group_from_row).collect()
    }

    /// Counts of one group.
    pub async fn group_counts(&mut self, g: &RolloutGroup) -> Result<StatusCounts, Error> {
        count_group(&mut self.tx, g).await
    }

    /// Sets the rollout's status.
    pub async fn set_status(&mut self, status: RolloutStatus, now: i64) -> Result<(), Error> {
        sqlx::query("UPDATE rollout SET status = $1, updated_at = $2 WHERE rollout_id = $3")
            .bind(status.as_str())
            .bind(now)
            .bind(self.rollout.rollout_id)
            .execute(&mut *self.tx)
            .await?;
        self.rollout.status = status;
        self.rollout.updated_at = now;
        Ok(())
    }

    /// Records the approver's remark.
    pub async fn set_approval_remark(&mut self, remark: &str) -> Result<(), Error> {
        sqlx::query("UPDATE rollout SET approval_remark = $1 WHERE rollout_id = $2")
            .bind(remark)
            .bind(self.rollout.rollout_id)
            .execute(&mut *self.tx)
            .await?;
        self.rollout.approval_remark = Some(remark.to_owned());
        Ok(())
    }

    /// Sets a group's status and success-action marker.
    pub async fn set_group(
        &mut self,
        group_id: i64,
        status: GroupStatus,
        next_triggered: i64,
        now: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE rollout_group SET status = $1, next_triggered = $2, updated_at = $3 \
             WHERE rollout_group_id = $4",
        )
        .bind(status.as_str())
        .bind(next_triggered)
        .bind(now)
        .bind(group_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Puts the matching targets into the groups, in group order: each group takes its
    /// percentage of the targets that match the rollout's query and its own and are in no
    /// earlier group, lowest target id first. Development devices are left out unless a query
    /// names them. Returns the total.
    pub async fn fill_groups(&mut self, now: i64) -> Result<i64, Error> {
        let rid = self.rollout.rollout_id;
        let rq = parse_stored(&self.rollout.target_filter_query)?;
        let groups = self.groups().await?;
        let mut total = 0;
        for g in &groups {
            let gq = if g.target_filter_query.trim().is_empty() {
                None
            } else {
                Some(parse_stored(&g.target_filter_query)?)
            };
            let selection = |sql: &mut Sql| {
                push_query(sql, &rq);
                if let Some(gq) = &gq {
                    sql.push(" AND ");
                    push_query(sql, gq);
                }
                sql.push(" AND ");
                let mut queries = vec![&rq];
                queries.extend(gq.as_ref());
                push_development_exclusion(sql, &queries);
                sql.push(
                    " AND NOT EXISTS (SELECT 1 FROM rollout_target rt WHERE rt.target_id = t.target_id \
                     AND rt.rollout_id = ",
                );
                sql.int(rid).push(")");
            };
            let mut count = Sql::new("SELECT COUNT(*) FROM target t WHERE ");
            selection(&mut count);
            let candidates: i64 = count.scalar().fetch_one(&mut *self.tx).await?;
            let pct = g.target_percentage.clamp(0.0, 100.0);
            // Exact for the whole percentages operators use; ceil so a small group is never
            // empty while targets remain.
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            let take = ((candidates as f64) * pct / 100.0 - 1e-9).ceil().max(0.0) as i64;
            let take = take.min(candidates);
            let mut insert = Sql::new(
                "INSERT INTO rollout_target (rollout_id, rollout_group_id, target_id, skipped) SELECT ",
            );
            insert.int(rid).push(", ").int(g.rollout_group_id);
            insert.push(", t.target_id, 0 FROM target t WHERE ");
            selection(&mut insert);
            insert.push(" ORDER BY t.target_id LIMIT ").int(take);
            insert.query().execute(&mut *self.tx).await?;
            sqlx::query(
                "UPDATE rollout_group SET total_targets = $1, status = $2, updated_at = $3 \
                 WHERE rollout_group_id = $4",
            )
            .bind(take)
            .bind(GroupStatus::Ready.as_str())
            .bind(now)
            .bind(g.rollout_group_id)
            .execute(&mut *self.tx)
            .await?;
            total += take;
        }
        sqlx::query("UPDATE rollout SET total_targets = $1 WHERE rollout_id = $2")
            .bind(total)
            .bind(rid)
            .execute(&mut *self.tx)
            .await?;
        self.rollout.total_targets = total;
        Ok(total)
    }

    /// Starts a group: targets whose hardware the distribution set does not support are
    /// skipped and counted; every other target gets an action (older running actions of the
    /// target are asked to cancel, as with a manual assignment). Returns the actions created.
    pub async fn start_group(&mut self, g: &RolloutGroup, now: i64) -> Result<u64, Error> {
        let gid = g.rollout_group_id;
        let ds = self.rollout.distribution_set_id;
        let mut skip = Sql::new("UPDATE rollout_target SET skipped = 1 WHERE rollout_group_id = ");
        skip.int(gid).push(" AND NOT ");
        push_compatible(&mut skip, "rollout_target.target_id", ds);
        skip.query().execute(&mut *self.tx).await?;

        let members = "SELECT rt.target_id FROM rollout_target rt \
             WHERE rt.rollout_group_id = $1 AND rt.skipped = 0";
        sqlx::query(&format!(
            "INSERT INTO action_status (action_id, status, code, messages, occurred_at) \
             SELECT a.action_id, 'canceling', NULL, $2, $3 FROM action a \
             WHERE a.status IN ('running', 'wait_for_confirmation') AND a.target_id IN ({members})"
        ))
        .bind(gid)
        .bind(r#"["Update Server: canceled because of a newer assignment"]"#)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        sqlx::query(&format!(
            "UPDATE action SET status = 'canceling', updated_at = $2 \
             WHERE status IN ('running', 'wait_for_confirmation') AND target_id IN ({members})"
        ))
        .bind(gid)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        let created = sqlx::query(
            "INSERT INTO action (target_id, distribution_set_id, action_type, status, active, \
             created_at, updated_at, rollout_group_id, forced_time) \
             SELECT rt.target_id, $2, $3, 'running', 1, $4, $4, $1, $5 FROM rollout_target rt \
             WHERE rt.rollout_group_id = $1 AND rt.skipped = 0 ON CONFLICT DO NOTHING",
        )
        .bind(gid)
        .bind(ds)
        .bind(self.rollout.action_type.as_str())
        .bind(now)
        .bind(self.rollout.forced_time)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        sqlx::query(
            "INSERT INTO action_status (action_id, status, code, messages, occurred_at) \
             SELECT a.action_id, 'running', NULL, $2, $3 FROM action a \
             WHERE a.rollout_group_id = $1 AND a.created_at = $3",
        )
        .bind(gid)
        .bind(r#"["Update Server: assignment initiated by rollout"]"#)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        sqlx::query(
            "UPDATE rollout_group SET status = $1, updated_at = $2, skipped_incompatible = \
             (SELECT COUNT(*) FROM rollout_target WHERE rollout_group_id = $3 AND skipped = 1) \
             WHERE rollout_group_id = $3",
        )
        .bind(GroupStatus::Running.as_str())
        .bind(now)
        .bind(gid)
        .execute(&mut *self.tx)
        .await?;
        Ok(created)
    }

    /// Asks every open action of the rollout to cancel.
    pub async fn cancel_open_actions(&mut self, now: i64) -> Result<u64, Error> {
        let rid = self.rollout.rollout_id;
        let open = "SELECT a.action_id FROM action a JOIN rollout_group g \
             ON g.rollout_group_id = a.rollout_group_id \
             WHERE g.rollout_id = $1 AND a.status IN ('running', 'wait_for_confirmation')";
        sqlx::query(&format!(
            "INSERT INTO action_status (action_id, status, code, messages, occurred_at) \
             SELECT x.action_id, 'canceling', NULL, $2, $3 FROM ({open}) x"
        ))
        .bind(rid)
        .bind(r#"["Update Server: rollout stopped"]"#)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(sqlx::query(&format!(
            "UPDATE action SET status = 'canceling', updated_at = $2 WHERE action_id IN ({open})"
        ))
        .bind(rid)
        .bind(now)
        .execute(&mut *self.tx)
        .await?
        .rows_affected())
    }

    /// Deletes the rollout with its groups (only sensible before it created actions).
    pub async fn delete(mut self) -> Result<(), Error> {
        let rid = self.rollout.rollout_id;
        for sql in [
            "DELETE FROM rollout_target WHERE rollout_id = $1",
            "DELETE FROM rollout_group WHERE rollout_id = $1",
            "DELETE FROM rollout WHERE rollout_id = $1",
        ] {
            sqlx::query(sql).bind(rid).execute(&mut *self.tx).await?;
        }
        self.tx.commit().await?;
        Ok(())
    }

    /// Whether any group of the rollout created actions.
    pub async fn has_actions(&mut self) -> Result<bool, Error> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM action a JOIN rollout_group g ON g.rollout_group_id = a.rollout_group_id \
             WHERE g.rollout_id = $1",
        )
        .bind(self.rollout.rollout_id)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(n > 0)
    }

    /// Commits all changes and releases the lock.
    pub async fn commit(self) -> Result<(), Error> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Creates a rollout in status `creating` with its groups; the engine fills the groups.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] if the name is taken, [`Error::NotFound`] for an unknown
    /// distribution set.
    pub async fn create_rollout(&self, r: &NewRollout, now: i64) -> Result<Rollout, Error> {
        let _changing = self.changing();
        let mut tx = self.begin_write().await?;
        let ds: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM distribution_set WHERE distribution_set_id = $1",
        )
        .bind(r.distribution_set_id)
        .fetch_one(&mut *tx)
        .await?;
        if ds == 0 {
            return Err(Error::NotFound("distribution set"));
        }
        let row = sqlx::query(&format!(
            "INSERT INTO rollout (name, description, target_filter_query, distribution_set_id, \
             action_type, forced_time, start_at, status, approval_required, created_by, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
             RETURNING {ROLLOUT_COLUMNS}"
        ))
        .bind(&r.name)
        .bind(&r.description)
        .bind(&r.target_filter_query)
        .bind(r.distribution_set_id)
        .bind(r.action_type.as_str())
        .bind(r.forced_time)
        .bind(r.start_at)
        .bind(RolloutStatus::Creating.as_str())
        .bind(i64::from(r.approval_required))
        .bind(&r.created_by)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let rollout = rollout_from_row(&row)?;
        for (i, g) in r.groups.iter().enumerate() {
            sqlx::query(
                "INSERT INTO rollout_group (rollout_id, position, name, description, \
                 target_filter_query, target_percentage, success_threshold, success_action, \
                 error_threshold, error_action, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
            )
            .bind(rollout.rollout_id)
            .bind(i64::try_from(i).unwrap_or(i64::MAX))
            .bind(&g.name)
            .bind(&g.description)
            .bind(&g.target_filter_query)
            .bind(g.target_percentage)
            .bind(g.success_threshold)
            .bind(g.success_action.as_str())
            .bind(g.error_threshold)
            .bind(g.error_action.as_str())
            .bind(GroupStatus::Creating.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rollout)
    }

    /// The rollout with this id.
    pub async fn rollout(&self, id: i64) -> Result<Option<Rollout>, Error> {
        let row = sqlx::query(&format!(
            "SELECT {ROLLOUT_COLUMNS} FROM rollout WHERE rollout_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rollout_from_row).transpose()
    }

    /// A page of rollouts (newest first, deleted ones hidden) and the count.
    pub async fn list_rollouts(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Rollout>, i64), Error> {
        let (offset, limit) = page(offset, limit);
        let rows = sqlx::query(&format!(
            "SELECT {ROLLOUT_COLUMNS} FROM rollout WHERE status <> 'deleted' \
             ORDER BY rollout_id DESC LIMIT $1 OFFSET $2"
        ))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM rollout WHERE status <> 'deleted'")
                .fetch_one(&self.pool)
                .await?;
        Ok((
            rows.iter()
                .map(rollout_from_row)
                .collect::<Result<_, _>>()?,
            total,
        ))
    }

    /// The groups of a rollout, in order.
    pub async fn rollout_groups(&self, rollout_id: i64) -> Result<Vec<RolloutGroup>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT {GROUP_COLUMNS} FROM rollout_group WHERE rollout_id = $1 ORDER BY position"
        ))
        .bind(rollout_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(group_from_row).collect()
    }

    /// Per-status counts of one group.
    pub async fn rollout_group_counts(&self, g: &RolloutGroup) -> Result<StatusCounts, Error> {
        let mut conn = self.pool.acquire().await?;
        count_group(&mut conn, g).await
    }

    /// A page of a group's targets (by controller id) and the count.
    pub async fn rollout_group_targets(
        &self,
        group_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<GroupTarget>, i64), Error> {
        let (offset, limit) = page(offset, limit);
        let rows = sqlx::query(
            "SELECT t.controller_id, rt.skipped, a.action_id, a.status FROM rollout_target rt \
             JOIN target t ON t.target_id = rt.target_id \
             LEFT JOIN action a ON a.rollout_group_id = rt.rollout_group_id AND a.target_id = rt.target_id \
             WHERE rt.rollout_group_id = $1 ORDER BY t.controller_id LIMIT $2 OFFSET $3",
        )
        .bind(group_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM rollout_target WHERE rollout_group_id = $1")
                .bind(group_id)
                .fetch_one(&self.pool)
                .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(GroupTarget {
                    controller_id: col(r, "controller_id")?,
                    skipped: col::<i64>(r, "skipped")? != 0,
                    action_id: col(r, "action_id")?,
                    action_status: col(r, "status")?,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok((items, total))
    }

    /// Rollouts the engine has work for at `now`.
    pub async fn rollouts_needing_work(&self, now: i64) -> Result<Vec<i64>, Error> {
        Ok(sqlx::query_scalar(
            "SELECT rollout_id FROM rollout WHERE status IN ('creating', 'starting', 'running') \
             OR (status = 'ready' AND start_at IS NOT NULL AND start_at <= $1) ORDER BY rollout_id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Locks a rollout for changes. With `wait == false`, returns `None` when another
    /// transaction (another server instance) holds the lock; also `None` if it does not exist.
    pub async fn lock_rollout(&self, id: i64, wait: bool) -> Result<Option<RolloutTx>, Error> {
        let mut tx = self.begin_write().await?;
        let locked = match self.backend {
            Backend::Postgres => {
                let sql = if wait {
                    "SELECT rollout_id FROM rollout WHERE rollout_id = $1 FOR UPDATE"
                } else {
                    "SELECT rollout_id FROM rollout WHERE rollout_id = $1 FOR UPDATE SKIP LOCKED"
                };
                sqlx::query(sql)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some()
            }
            // The transaction began with BEGIN IMMEDIATE, so it holds SQLite's single write
            // lock: nothing read below can change under it until commit.
            Backend::Sqlite => {
                sqlx::query("UPDATE rollout SET updated_at = updated_at WHERE rollout_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    > 0
            }
        };
        if !locked {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {ROLLOUT_COLUMNS} FROM rollout WHERE rollout_id = $1"
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let rollout = rollout_from_row(&row)?;
        Ok(Some(RolloutTx {
            tx,
            rollout,
            _changing: self.changing(),
        }))
    }

    /// Auto-assignment of one saved filter: every target that matches it, is not a development
    /// device (unless the query names it), runs hardware the distribution set supports, and has
    /// never had an action for the set, gets one. `only_target` restricts this to one target
    /// (a device that just registered or reported attributes). Returns the actions created.
    pub async fn auto_assign(
        &self,
        filter_id: i64,
        only_target: Option<i64>,
        now: i64,
    ) -> Result<u64, Error> {
        let mut tx = self.begin_write().await?;
        let locked = match self.backend {
            Backend::Postgres => {
                let sql = if only_target.is_some() {
                    "SELECT target_filter_id FROM target_filter WHERE target_filter_id = $1 FOR UPDATE"
                } else {
                    "SELECT target_filter_id FROM target_filter WHERE target_filter_id = $1 \
                     FOR UPDATE SKIP LOCKED"
                };
                sqlx::query(sql)
                    .bind(filter_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some()
            }
            Backend::Sqlite => {
                sqlx::query(
                    "UPDATE target_filter SET updated_at = updated_at WHERE target_filter_id = $1",
                )
                .bind(filter_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0
            }
        };
        if !locked {
            return Ok(0);
        }
        let row = sqlx::query(
            "SELECT query, auto_assign_ds_id, auto_assign_action_type FROM target_filter \
             WHERE target_filter_id = $1",
        )
        .bind(filter_id)
        .fetch_one(&mut *tx)
        .await?;
        let Some(ds) = col::<Option<i64>>(&row, "auto_assign_ds_id")? else {
            return Ok(0);
        };
        let action_type: ActionType = col::<Option<String>>(&row, "auto_assign_action_type")?
            .unwrap_or_else(|| ActionType::Forced.as_str().to_owned())
            .parse()
            .map_err(|()| Error::Corrupt("auto-assign action type".into()))?;
        let q = parse_stored(&col::<String>(&row, "query")?)?;
        let selection = |sql: &mut Sql| {
            sql.push("SELECT t.target_id FROM target t WHERE ");
            push_query(sql, &q);
            sql.push(" AND ");
            push_development_exclusion(sql, &[&q]);
            sql.push(" AND ");
            push_compatible(sql, "t.target_id", ds);
            sql.push(
                " AND NOT EXISTS (SELECT 1 FROM action x WHERE x.target_id = t.target_id \
                 AND x.distribution_set_id = ",
            );
            sql.int(ds).push(")");
            if let Some(t) = only_target {
                sql.push(" AND t.target_id = ").int(t);
            }
        };
        let mut history = Sql::new(
            "INSERT INTO action_status (action_id, status, code, messages, occurred_at) \
             SELECT a.action_id, 'canceling', NULL, ",
        );
        history
            .text(r#"["Update Server: canceled because of a newer assignment"]"#)
            .push(", ")
            .int(now)
            .push(" FROM action a WHERE a.status IN ('running', 'wait_for_confirmation') AND a.target_id IN (");
        selection(&mut history);
        history.push(")");
        history.query().execute(&mut *tx).await?;
        let mut cancel = Sql::new("UPDATE action SET status = 'canceling', updated_at = ");
        cancel
            .int(now)
            .push(" WHERE status IN ('running', 'wait_for_confirmation') AND target_id IN (");
        selection(&mut cancel);
        cancel.push(")");
        cancel.query().execute(&mut *tx).await?;
        let prefix = format!("auto:{ds}:");
        let mut insert = Sql::new(
            "INSERT INTO action (target_id, distribution_set_id, action_type, status, active, \
             created_at, updated_at, assignment_key) SELECT s.target_id, ",
        );
        insert
            .int(ds)
            .push(", ")
            .text(action_type.as_str())
            .push(", 'running', 1, ")
            .int(now)
            .push(", ")
            .int(now)
            .push(", ")
            .text(&prefix)
            .push(" || CAST(s.target_id AS TEXT) FROM (");
        selection(&mut insert);
        insert.push(") s WHERE 1 = 1 ON CONFLICT DO NOTHING");
        let created = insert.query().execute(&mut *tx).await?.rows_affected();
        if created > 0 {
            sqlx::query(
                "INSERT INTO action_status (action_id, status, code, messages, occurred_at) \
                 SELECT a.action_id, 'running', NULL, $1, $2 FROM action a \
                 WHERE a.distribution_set_id = $3 AND a.created_at = $2 AND a.assignment_key IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM action_status s WHERE s.action_id = a.action_id)",
            )
            .bind(r#"["Update Server: assignment initiated by auto-assignment"]"#)
            .bind(now)
            .bind(ds)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if created > 0 {
            // Only then: auto-assignment runs on every first poll and every engine tick.
            self.changes.bump(only_target);
        }
        Ok(created)
    }
}
