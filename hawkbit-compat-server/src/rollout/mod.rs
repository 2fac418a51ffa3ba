//! Staged rollouts and auto-assignment: the engine.
//!
//! Everything the engine does happens in [`tick`], one step that looks at every rollout with
//! work to do and every saved filter with an auto-assigned distribution set. Tests call it
//! directly with the time they want; the server runs it on a timer ([`run`]).
//!
//! # Rollout life cycle (hawkBit's `RolloutStatus`)
//!
//! ```text
//! creating ──fill groups──▶ ready ──start / startAt──▶ starting ──first group──▶ running
//!     │                      ▲                                                  │   ▲
//!     └─(approval enabled)─▶ waiting_for_approval ──deny──▶ approval_denied      │   │ resume
//!                            └──approve──┘                            pause /    ▼   │
//!                                                                  error action  paused
//! running ──all groups finished or error──▶ finished
//! ready, starting, running, paused, waiting_for_approval ──stop──▶ stopped
//! any ──delete──▶ (removed, or `deleted` once it created actions)
//! ```
//!
//! # Group life cycle (hawkBit's `RolloutGroupStatus`)
//!
//! ```text
//! creating ──filled──▶ ready ──rollout starts──▶ scheduled ──its turn──▶ running
//! running ──all actions closed──▶ finished
//! running ──error condition (or closed without meeting success)──▶ error
//! ```
//!
//! A running group's **error condition** (more than `errorCondition` percent of its targets
//! failed) triggers its error action: the group becomes `error` and the rollout `paused` (the
//! emergency stop). Its **success condition** (at least `successCondition` percent finished)
//! triggers its success action once: `nextgroup` starts the next group, `pause` pauses the
//! rollout and resuming starts the next group. Resuming after an error pause also moves on to
//! the next group: the operator has looked at the failures and decided to continue.
//! A group whose actions all closed without meeting its success condition is an error too, so a
//! rollout never silently stalls.

pub mod fiql;

use std::time::Duration;

use crate::store::{
    self, GroupStatus, RolloutGroup, RolloutStatus, RolloutTx, Store, SuccessAction,
};

/// What one [`tick`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Rollouts locked and looked at.
    pub rollouts: usize,
    /// Rollouts skipped because another server instance held their lock.
    pub skipped_locked: usize,
    /// Groups started.
    pub groups_started: usize,
    /// Actions created by rollouts.
    pub rollout_actions: u64,
    /// Actions created by auto-assignment.
    pub auto_assigned: u64,
}

/// One step of the engine at time `now` (ms since the epoch).
///
/// # Errors
///
/// Database errors; a failure on one rollout leaves the others untouched (each rollout is its
/// own transaction) but ends the step.
pub async fn tick(store: &Store, now: i64) -> Result<TickReport, store::Error> {
    let mut report = TickReport::default();
    for id in store.rollouts_needing_work(now).await? {
        let Some(mut tx) = store.lock_rollout(id, false).await? else {
            report.skipped_locked += 1;
            continue;
        };
        report.rollouts += 1;
        advance(&mut tx, now, &mut report).await?;
        tx.commit().await?;
    }
    for filter in store.auto_assign_filter_ids().await? {
        report.auto_assigned += store.auto_assign(filter, None, now).await?;
    }
    Ok(report)
}

/// Auto-assignment for one target (just registered, or its attributes changed). Returns the
/// actions created.
///
/// # Errors
///
/// Database errors.
pub async fn auto_assign_target(
    store: &Store,
    target_id: i64,
    now: i64,
) -> Result<u64, store::Error> {
    let mut n = 0;
    for filter in store.auto_assign_filter_ids().await? {
        n += store.auto_assign(filter, Some(target_id), now).await?;
    }
    Ok(n)
}

/// Moves one locked rollout as far as it can go at `now`.
async fn advance(
    tx: &mut RolloutTx,
    now: i64,
    report: &mut TickReport,
) -> Result<(), store::Error> {
    let r = tx.rollout().clone();
    match r.status {
        RolloutStatus::Creating => {
            tx.fill_groups(now).await?;
            let next = if r.approval_required {
                RolloutStatus::WaitingForApproval
            } else {
                RolloutStatus::Ready
            };
            tx.set_status(next, now).await?;
        }
        RolloutStatus::Ready if r.start_at.is_some_and(|s| s <= now) => {
            tx.set_status(RolloutStatus::Starting, now).await?;
            start(tx, now, report).await?;
        }
        RolloutStatus::Starting => start(tx, now, report).await?,
        RolloutStatus::Running => run_groups(tx, now, report).await?,
        _ => {}
    }
    Ok(())
}

/// `starting`: the first group runs, the others are scheduled.
async fn start(tx: &mut RolloutTx, now: i64, report: &mut TickReport) -> Result<(), store::Error> {
    let groups = tx.groups().await?;
    for g in &groups[1.min(groups.len())..] {
        tx.set_group(g.rollout_group_id, GroupStatus::Scheduled, 0, now)
            .await?;
    }
    if let Some(first) = groups.first() {
        report.rollout_actions += tx.start_group(first, now).await?;
        report.groups_started += 1;
    }
    tx.set_status(RolloutStatus::Running, now).await?;
    Ok(())
}

/// Starts the first scheduled group after `after` (by position), if any.
async fn start_next(
    tx: &mut RolloutTx,
    groups: &[RolloutGroup],
    after: i64,
    now: i64,
    report: &mut TickReport,
) -> Result<(), store::Error> {
    if let Some(next) = groups
        .iter()
        .find(|g| g.position > after && g.status == GroupStatus::Scheduled)
    {
        report.rollout_actions += tx.start_group(next, now).await?;
        report.groups_started += 1;
    }
    Ok(())
}

/// Percentage test without floating point: `part / whole >= pct / 100`.
fn at_least(part: i64, whole: i64, pct: i64) -> bool {
    part * 100 >= pct * whole
}

/// `running`: evaluates the running groups' conditions in order.
async fn run_groups(
    tx: &mut RolloutTx,
    now: i64,
    report: &mut TickReport,
) -> Result<(), store::Error> {
    let groups = tx.groups().await?;
    for g in &groups {
        match g.status {
            // Resumed after the error action paused the rollout: continue with the next group.
            GroupStatus::Error if g.next_triggered == 0 => {
                tx.set_group(g.rollout_group_id, GroupStatus::Error, 1, now)
                    .await?;
                start_next(tx, &groups, g.position, now, report).await?;
            }
            GroupStatus::Running => {
                // Resumed after a success action `pause`.
                if g.next_triggered == -1 {
                    tx.set_group(g.rollout_group_id, g.status, 1, now).await?;
                    start_next(tx, &groups, g.position, now, report).await?;
                    continue;
                }
                let c = tx.group_counts(g).await?;
                let assigned = g.total_targets - g.skipped_incompatible;
                let closed = c.finished + c.error + c.cancelled;
                if let Some(limit) = g.error_threshold {
                    if assigned > 0 && c.error * 100 > limit * assigned {
                        tx.set_group(g.rollout_group_id, GroupStatus::Error, 0, now)
                            .await?;
                        tracing::warn!(
                            rollout = tx.rollout().rollout_id,
                            group = g.position,
                            failed = c.error,
                            of = assigned,
                            "rollout group exceeded its error threshold; rollout paused"
                        );
                        tx.set_status(RolloutStatus::Paused, now).await?;
                        return Ok(());
                    }
                }
                let mut marker = g.next_triggered;
                if marker == 0 && at_least(c.finished, assigned, g.success_threshold) {
                    match g.success_action {
                        SuccessAction::NextGroup => {
                            marker = 1;
                            tx.set_group(g.rollout_group_id, g.status, 1, now).await?;
                            start_next(tx, &groups, g.position, now, report).await?;
                        }
                        SuccessAction::Pause => {
                            tx.set_group(g.rollout_group_id, g.status, -1, now).await?;
                            tx.set_status(RolloutStatus::Paused, now).await?;
                            return Ok(());
                        }
                    }
                }
                if closed >= assigned {
                    // As in hawkBit: a group whose actions are all closed is finished, whether
                    // or not its success condition was met. If it was not, the next group is
                    // not started and the rollout stays running until the operator triggers
                    // the next group or stops it.
                    if marker == 0 {
                        tracing::warn!(
                            rollout = tx.rollout().rollout_id,
                            group = g.position,
                            installed = c.finished,
                            of = assigned,
                            "rollout group finished below its success condition; the next group \
                             waits for triggerNextGroup"
                        );
                    }
                    tx.set_group(g.rollout_group_id, GroupStatus::Finished, marker, now)
                        .await?;
                }
            }
            _ => {}
        }
    }
    let groups = tx.groups().await?;
    let open = groups.iter().any(|g| {
        matches!(g.status, GroupStatus::Scheduled | GroupStatus::Running)
            || (g.status == GroupStatus::Error && g.next_triggered == 0)
    });
    if !open {
        tx.set_status(RolloutStatus::Finished, now).await?;
    }
    Ok(())
}

/// Operator requests on a rollout, with hawkBit's rules for which status allows what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `ready` → `starting` (the next tick starts the first group).
    Start,
    /// `running` → `paused`.
    Pause,
    /// `paused` → `running`.
    Resume,
    /// Cancel open actions; → `stopped`.
    Stop,
    /// `waiting_for_approval` → `ready`.
    Approve,
    /// `waiting_for_approval` → `approval_denied`.
    Deny,
    /// `running`: start the next scheduled group now.
    TriggerNextGroup,
}

/// Why a command was refused.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// No such rollout.
    #[error("rollout not found")]
    NotFound,
    /// Not allowed in the current status.
    #[error("{0}")]
    InvalidState(String),
    /// Database failure.
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// Applies an operator command under the rollout's lock. `remark` is the approver's note.
///
/// # Errors
///
/// [`CommandError`].
pub async fn command(
    store: &Store,
    id: i64,
    cmd: Command,
    remark: Option<&str>,
    now: i64,
) -> Result<(), CommandError> {
    let mut tx = store
        .lock_rollout(id, true)
        .await?
        .ok_or(CommandError::NotFound)?;
    let status = tx.rollout().status;
    let refuse = |what: &str| {
        Err(CommandError::InvalidState(format!(
            "cannot {what} a rollout in status {}",
            status.as_str().to_ascii_uppercase()
        )))
    };
    match cmd {
        Command::Start if status == RolloutStatus::Ready => {
            tx.set_status(RolloutStatus::Starting, now).await?;
        }
        Command::Start => return refuse("start"),
        Command::Pause if status == RolloutStatus::Running => {
            tx.set_status(RolloutStatus::Paused, now).await?;
        }
        Command::Pause => return refuse("pause"),
        Command::Resume if status == RolloutStatus::Paused => {
            tx.set_status(RolloutStatus::Running, now).await?;
        }
        Command::Resume => return refuse("resume"),
        Command::Approve | Command::Deny if status == RolloutStatus::WaitingForApproval => {
            if let Some(r) = remark {
                tx.set_approval_remark(r).await?;
            }
            let to = if cmd == Command::Approve {
                RolloutStatus::Ready
            } else {
                RolloutStatus::ApprovalDenied
            };
            tx.set_status(to, now).await?;
        }
        Command::Approve => return refuse("approve"),
        Command::Deny => return refuse("deny"),
        Command::Stop
            if matches!(
                status,
                RolloutStatus::Ready
                    | RolloutStatus::Starting
                    | RolloutStatus::Running
                    | RolloutStatus::Paused
                    | RolloutStatus::WaitingForApproval
            ) =>
        {
            stop(&mut tx, now).await?;
        }
        Command::Stop => return refuse("stop"),
        Command::TriggerNextGroup if status == RolloutStatus::Running => {
            let groups = tx.groups().await?;
            let Some(next) = groups
                .iter()
                .find(|g| g.status == GroupStatus::Scheduled)
                .cloned()
            else {
                return Err(CommandError::InvalidState(
                    "the rollout has no scheduled group left".into(),
                ));
            };
            for g in groups.iter().filter(|g| g.position < next.position) {
                if g.next_triggered != 1 {
                    tx.set_group(g.rollout_group_id, g.status, 1, now).await?;
                }
            }
            tx.start_group(&next, now).await?;
        }
        Command::TriggerNextGroup => return refuse("trigger the next group of"),
    }
    tx.commit().await?;
    Ok(())
}

async fn stop(tx: &mut RolloutTx, now: i64) -> Result<(), store::Error> {
    tx.cancel_open_actions(now).await?;
    for g in tx.groups().await? {
        if !matches!(g.status, GroupStatus::Finished | GroupStatus::Error) {
            tx.set_group(
                g.rollout_group_id,
                GroupStatus::Finished,
                g.next_triggered,
                now,
            )
            .await?;
        }
    }
    tx.set_status(RolloutStatus::Stopped, now).await
}

/// Deletes a rollout: removed entirely if it never created actions, else stopped and marked
/// `deleted` (its actions and their history stay).
///
/// # Errors
///
/// [`CommandError::NotFound`], database errors.
pub async fn delete(store: &Store, id: i64, now: i64) -> Result<(), CommandError> {
    let mut tx = store
        .lock_rollout(id, true)
        .await?
        .ok_or(CommandError::NotFound)?;
    if tx.rollout().status == RolloutStatus::Deleted {
        return Err(CommandError::NotFound);
    }
    if tx.has_actions().await? {
        if !matches!(
            tx.rollout().status,
            RolloutStatus::Finished | RolloutStatus::Stopped
        ) {
            stop(&mut tx, now).await?;
        }
        tx.set_status(RolloutStatus::Deleted, now).await?;
        tx.commit().await?;
    } else {
        tx.delete().await?;
    }
    Ok(())
}

/// Runs [`tick`] every `interval` until `shutdown` resolves. Errors are logged and the next
/// tick tries again.
pub async fn run(
    store: Store,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut timer = tokio::time::interval(interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = timer.tick() => {
                let started = std::time::Instant::now();
                match tick(&store, store::now_ms()).await {
                    Ok(r) => tracing::debug!(
                        rollouts = r.rollouts,
                        skipped_locked = r.skipped_locked,
                        groups_started = r.groups_started,
                        rollout_actions = r.rollout_actions,
                        auto_assigned = r.auto_assigned,
                        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                        "rollout tick"
                    ),
                    Err(e) => tracing::error!(error = %e, "rollout tick failed"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::at_least;
    use crate::store::{Action, ActionState, ActionType};

    #[test]
    fn time_forced_actions_turn_forced_at_their_time() {
        let action = |t, forced_time| Action {
            action_id: 1,
            target_id: 1,
            distribution_set_id: 1,
            action_type: t,
            state: ActionState::Running,
            active: true,
            created_at: 0,
            updated_at: 0,
            forced_time,
            weight: None,
            maintenance: None,
        };
        let tf = action(ActionType::TimeForced, Some(1_000));
        assert_eq!(tf.effective_type(999), ActionType::Soft);
        assert_eq!(tf.effective_type(1_000), ActionType::Forced);
        assert_eq!(
            action(ActionType::TimeForced, None).effective_type(0),
            ActionType::Forced
        );
        assert_eq!(
            action(ActionType::DownloadOnly, Some(5)).effective_type(10),
            ActionType::DownloadOnly
        );
    }

    #[test]
    fn thresholds_are_exact_percentages() {
        assert!(at_least(8, 10, 80));
        assert!(!at_least(7, 10, 80));
        assert!(at_least(0, 0, 100));
        assert!(at_least(1, 3, 33));
        assert!(!at_least(1, 3, 34));
    }
}
