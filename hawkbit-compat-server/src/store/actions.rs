//! Actions (assignments of a distribution set to a target) and their status history.

use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::{
    col, now_ms, parse_col, Action, ActionState, ActionStatusEntry, ActionType, AssignOptions,
    AutoConfirm, Error, HistoryStatus, MaintenanceWindow, NewStatusEntry, Store,
};

const ACTION_COLUMNS: &str = "action_id, target_id, distribution_set_id, action_type, status, \
     active, created_at, updated_at, forced_time, weight, maintenance_schedule, \
     maintenance_duration, maintenance_timezone";

fn action_from_row(row: &AnyRow) -> Result<Action, Error> {
    Ok(Action {
        action_id: col(row, "action_id")?,
        target_id: col(row, "target_id")?,
        distribution_set_id: col(row, "distribution_set_id")?,
        action_type: parse_col(row, "action_type")?,
        state: parse_col(row, "status")?,
        active: col::<i64>(row, "active")? != 0,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        forced_time: col(row, "forced_time")?,
        weight: col(row, "weight")?,
        maintenance: match (
            col::<Option<String>>(row, "maintenance_schedule")?,
            col::<Option<String>>(row, "maintenance_duration")?,
            col::<Option<String>>(row, "maintenance_timezone")?,
        ) {
            (Some(schedule), Some(duration), timezone) => Some(MaintenanceWindow {
                schedule,
                duration,
                timezone: timezone.unwrap_or_default(),
            }),
            _ => None,
        },
    })
}

async fn insert_status(
    tx: &mut Transaction<'static, Any>,
    action_id: i64,
    e: &NewStatusEntry,
) -> Result<(), Error> {
    let messages = serde_json::to_string(&e.messages)
        .map_err(|err| Error::Corrupt(format!("messages: {err}")))?;
    sqlx::query(
        "INSERT INTO action_status (action_id, status, code, messages, occurred_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(action_id)
    .bind(e.status.as_str())
    .bind(e.code)
    .bind(messages)
    .bind(e.occurred_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Assigns a distribution set to a target with nothing but a type (see
    /// [`Self::assign_with`]).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the target or distribution set does not exist.
    pub async fn assign(
        &self,
        target_id: i64,
        ds_id: i64,
        action_type: ActionType,
    ) -> Result<Action, Error> {
        self.assign_with(target_id, ds_id, &AssignOptions::of_type(action_type))
            .await
    }

    /// Assigns a distribution set to a target: creates an open action and asks every open
    /// action of the target to cancel, so the device moves to the newest assignment
    /// (hawkBit's behaviour without multi-assignment). The new action runs at once, or waits
    /// for confirmation when that is required and the target's auto-confirm is off. One
    /// transaction.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the target or distribution set does not exist.
    pub async fn assign_with(
        &self,
        target_id: i64,
        ds_id: i64,
        opts: &AssignOptions,
    ) -> Result<Action, Error> {
        let _changing = self.changing_target(target_id);
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let auto_confirm: Option<i64> =
            sqlx::query_scalar("SELECT auto_confirm_active FROM target WHERE target_id = $1")
                .bind(target_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(auto_confirm) = auto_confirm else {
            return Err(Error::NotFound("target"));
        };
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM distribution_set WHERE distribution_set_id = $1",
        )
        .bind(ds_id)
        .fetch_one(&mut *tx)
        .await?;
        if n == 0 {
            return Err(Error::NotFound("distribution set"));
        }
        let superseded: Vec<i64> = sqlx::query_scalar(
            "SELECT action_id FROM action WHERE target_id = $1 AND status IN ($2, $3)",
        )
        .bind(target_id)
        .bind(ActionState::Running.as_str())
        .bind(ActionState::WaitForConfirmation.as_str())
        .fetch_all(&mut *tx)
        .await?;
        for id in superseded {
            sqlx::query("UPDATE action SET status = $1, updated_at = $2 WHERE action_id = $3")
                .bind(ActionState::Canceling.as_str())
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let entry = NewStatusEntry {
                status: HistoryStatus::Canceling,
                code: None,
                messages: vec!["Update Server: canceled because of a newer assignment".into()],
                occurred_at: now,
            };
            insert_status(&mut tx, id, &entry).await?;
        }
        let waits = opts.confirmation_required && auto_confirm == 0;
        let state = if waits {
            ActionState::WaitForConfirmation
        } else {
            ActionState::Running
        };
        let sql = format!(
            "INSERT INTO action (target_id, distribution_set_id, action_type, status, active, \
             created_at, updated_at, forced_time, weight, maintenance_schedule, \
             maintenance_duration, maintenance_timezone) \
             VALUES ($1, $2, $3, $4, 1, $5, $5, $6, $7, $8, $9, $10) RETURNING {ACTION_COLUMNS}"
        );
        let m = opts.maintenance.as_ref();
        let row = sqlx::query(&sql)
            .bind(target_id)
            .bind(ds_id)
            .bind(opts.action_type.as_str())
            .bind(state.as_str())
            .bind(now)
            .bind(opts.forced_time)
            .bind(opts.weight)
            .bind(m.map(|m| m.schedule.clone()))
            .bind(m.map(|m| m.duration.clone()))
            .bind(m.map(|m| m.timezone.clone()))
            .fetch_one(&mut *tx)
            .await?;
        let action = action_from_row(&row)?;
        let mut entries = vec![NewStatusEntry {
            status: HistoryStatus::Running,
            code: None,
            messages: vec!["Update Server: assignment initiated".into()],
            occurred_at: now,
        }];
        if waits {
            entries.push(NewStatusEntry {
                status: HistoryStatus::WaitForConfirmation,
                code: None,
                messages: vec!["Update Server: waiting for confirmation by the device".into()],
                occurred_at: now,
            });
        } else if opts.confirmation_required {
            entries.push(NewStatusEntry {
                status: HistoryStatus::Running,
                code: None,
                messages: vec![
                    "Update Server: confirmed automatically (auto-confirm is on)".into(),
                ],
                occurred_at: now,
            });
        }
        for entry in &entries {
            insert_status(&mut tx, action.action_id, entry).await?;
        }
        tx.commit().await?;
        Ok(action)
    }

    /// Records the device's (or the operator's, on its behalf) answer to an action waiting for
    /// confirmation: confirmed makes it run; denied keeps it waiting, with the reason in its
    /// history (hawkBit's behaviour: the operator decides what happens next).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if the action is closed ("closed") or open but not waiting;
    /// [`Error::NotFound`].
    pub async fn confirm_action(
        &self,
        action_id: i64,
        confirmed: bool,
        code: Option<i64>,
        messages: Vec<String>,
    ) -> Result<Action, Error> {
        let Some(action) = self.action(action_id).await? else {
            return Err(Error::NotFound("action"));
        };
        if !action.active {
            return Err(Error::InvalidState("action is closed"));
        }
        if action.state != ActionState::WaitForConfirmation {
            return Err(Error::InvalidState(
                "action is not waiting for confirmation",
            ));
        }
        let (new_state, status, prefix) = if confirmed {
            (
                ActionState::Running,
                HistoryStatus::Running,
                "confirmed by the device",
            )
        } else {
            (
                ActionState::WaitForConfirmation,
                HistoryStatus::WaitForConfirmation,
                "denied by the device",
            )
        };
        let mut all = vec![format!("Update Server: {prefix}")];
        all.extend(messages);
        let entry = NewStatusEntry {
            status,
            code,
            messages: all,
            occurred_at: now_ms(),
        };
        self.record_action_status(action_id, Some(new_state), &entry)
            .await
    }

    /// The target's auto-confirm switch.
    pub async fn auto_confirm(&self, target_id: i64) -> Result<AutoConfirm, Error> {
        let row = sqlx::query(
            "SELECT auto_confirm_active, auto_confirm_initiator, auto_confirm_remark, \
             auto_confirm_at FROM target WHERE target_id = $1",
        )
        .bind(target_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound("target"))?;
        Ok(AutoConfirm {
            active: col::<i64>(&row, "auto_confirm_active")? != 0,
            initiator: col(&row, "auto_confirm_initiator")?,
            remark: col(&row, "auto_confirm_remark")?,
            activated_at: col(&row, "auto_confirm_at")?,
        })
    }

    /// Switches auto-confirm on (confirming every action of the target that waits) or, with
    /// `None`, off.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] when switching on while it is on; [`Error::NotFound`].
    pub async fn set_auto_confirm(
        &self,
        target_id: i64,
        on: Option<(Option<&str>, Option<&str>)>,
    ) -> Result<(), Error> {
        let _changing = self.changing_target(target_id);
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT auto_confirm_active FROM target WHERE target_id = $1")
                .bind(target_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(current) = current else {
            return Err(Error::NotFound("target"));
        };
        let Some((initiator, remark)) = on else {
            sqlx::query(
                "UPDATE target SET auto_confirm_active = 0, auto_confirm_initiator = NULL, \
                 auto_confirm_remark = NULL, auto_confirm_at = NULL WHERE target_id = $1",
            )
            .bind(target_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(());
        };
        if current != 0 {
            return Err(Error::InvalidState("auto-confirm is already active"));
        }
        sqlx::query(
            "UPDATE target SET auto_confirm_active = 1, auto_confirm_initiator = $1, \
             auto_confirm_remark = $2, auto_confirm_at = $3 WHERE target_id = $4",
        )
        .bind(initiator)
        .bind(remark)
        .bind(now)
        .bind(target_id)
        .execute(&mut *tx)
        .await?;
        let waiting: Vec<i64> =
            sqlx::query_scalar("SELECT action_id FROM action WHERE target_id = $1 AND status = $2")
                .bind(target_id)
                .bind(ActionState::WaitForConfirmation.as_str())
                .fetch_all(&mut *tx)
                .await?;
        for id in waiting {
            sqlx::query("UPDATE action SET status = $1, updated_at = $2 WHERE action_id = $3")
                .bind(ActionState::Running.as_str())
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let entry = NewStatusEntry {
                status: HistoryStatus::Running,
                code: None,
                messages: vec!["Update Server: confirmed by activating auto-confirm".into()],
                occurred_at: now,
            };
            insert_status(&mut tx, id, &entry).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The action with this id.
    pub async fn action(&self, action_id: i64) -> Result<Option<Action>, Error> {
        let sql = format!("SELECT {ACTION_COLUMNS} FROM action WHERE action_id = $1");
        let row = sqlx::query(&sql)
            .bind(action_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(action_from_row).transpose()
    }

    /// Open actions of a target, oldest first (the first is what the device should see).
    pub async fn active_actions(&self, target_id: i64) -> Result<Vec<Action>, Error> {
        let sql = format!(
            "SELECT {ACTION_COLUMNS} FROM action WHERE target_id = $1 AND active = 1 ORDER BY action_id"
        );
        let rows = sqlx::query(&sql)
            .bind(target_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(action_from_row).collect()
    }

    /// All actions of a target, newest first.
    pub async fn actions_of_target(&self, target_id: i64) -> Result<Vec<Action>, Error> {
        let sql = format!(
            "SELECT {ACTION_COLUMNS} FROM action WHERE target_id = $1 ORDER BY action_id DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(target_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(action_from_row).collect()
    }

    /// The most recent successfully finished action of a target (its installed base).
    pub async fn last_finished_action(&self, target_id: i64) -> Result<Option<Action>, Error> {
        let sql = format!(
            "SELECT {ACTION_COLUMNS} FROM action WHERE target_id = $1 AND status = $2 \
             ORDER BY action_id DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(target_id)
            .bind(ActionState::Finished.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(action_from_row).transpose()
    }

    /// Appends a status entry to an open action and optionally moves it to `new_state`, in one
    /// transaction. When the action finishes, the target is asked for its attributes again
    /// (hawkBit re-requests configData after an update).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if the action is no longer open (checked inside the
    /// transaction, so two racing "closed" reports cannot both succeed);
    /// [`Error::NotFound`] if it does not exist.
    pub async fn record_action_status(
        &self,
        action_id: i64,
        new_state: Option<ActionState>,
        entry: &NewStatusEntry,
    ) -> Result<Action, Error> {
        let mut changing = self.changing();
        let mut tx = self.pool.begin().await?;
        let r = match new_state {
            Some(state) => {
                sqlx::query(
                    "UPDATE action SET status = $1, active = $2, updated_at = $3 \
                     WHERE action_id = $4 AND active = 1",
                )
                .bind(state.as_str())
                .bind(i64::from(state.is_active()))
                .bind(entry.occurred_at)
                .bind(action_id)
                .execute(&mut *tx)
                .await?
            }
            None => {
                sqlx::query("UPDATE action SET updated_at = $1 WHERE action_id = $2 AND active = 1")
                    .bind(entry.occurred_at)
                    .bind(action_id)
                    .execute(&mut *tx)
                    .await?
            }
        };
        if r.rows_affected() == 0 {
            let exists: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM action WHERE action_id = $1")
                    .bind(action_id)
                    .fetch_one(&mut *tx)
                    .await?;
            return Err(if exists == 0 {
                Error::NotFound("action")
            } else {
                Error::InvalidState("action is closed")
            });
        }
        insert_status(&mut tx, action_id, entry).await?;
        if new_state == Some(ActionState::Finished) {
            sqlx::query(
                "UPDATE target SET request_attributes = 1 WHERE target_id = \
                 (SELECT target_id FROM action WHERE action_id = $1)",
            )
            .bind(action_id)
            .execute(&mut *tx)
            .await?;
        }
        let sql = format!("SELECT {ACTION_COLUMNS} FROM action WHERE action_id = $1");
        let row = sqlx::query(&sql)
            .bind(action_id)
            .fetch_one(&mut *tx)
            .await?;
        let action = action_from_row(&row)?;
        tx.commit().await?;
        changing.narrow_to(action.target_id);
        Ok(action)
    }

    /// Operator cancel: a running action becomes canceling and the device is told on its next
    /// poll.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] unless the action is running or waiting for confirmation;
    /// [`Error::NotFound`].
    pub async fn request_cancel(&self, action_id: i64) -> Result<Action, Error> {
        self.request_cancel_because(action_id, "cancellation requested by operator")
            .await
    }

    /// Like [`Self::request_cancel`], with the reason recorded in the action's history.
    ///
    /// # Errors
    ///
    /// As [`Self::request_cancel`].
    pub async fn request_cancel_because(
        &self,
        action_id: i64,
        reason: &str,
    ) -> Result<Action, Error> {
        let Some(action) = self.action(action_id).await? else {
            return Err(Error::NotFound("action"));
        };
        if !matches!(
            action.state,
            ActionState::Running | ActionState::WaitForConfirmation
        ) {
            return Err(Error::InvalidState("only a running action can be canceled"));
        }
        let entry = NewStatusEntry {
            status: HistoryStatus::Canceling,
            code: None,
            messages: vec![format!("Update Server: {reason}")],
            occurred_at: now_ms(),
        };
        self.record_action_status(action_id, Some(ActionState::Canceling), &entry)
            .await
    }

    /// Up to `limit` history entries of an action, newest first.
    pub async fn action_history(
        &self,
        action_id: i64,
        limit: i64,
    ) -> Result<Vec<ActionStatusEntry>, Error> {
        let rows = sqlx::query(
            "SELECT action_status_id, action_id, status, code, messages, occurred_at \
             FROM action_status WHERE action_id = $1 ORDER BY action_status_id DESC LIMIT $2",
        )
        .bind(action_id)
        .bind(limit.max(0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let messages: String = col(r, "messages")?;
                Ok(ActionStatusEntry {
                    action_status_id: col(r, "action_status_id")?,
                    action_id: col(r, "action_id")?,
                    status: parse_col(r, "status")?,
                    code: col(r, "code")?,
                    messages: serde_json::from_str(&messages)
                        .map_err(|e| Error::Corrupt(format!("messages: {e}")))?,
                    occurred_at: col(r, "occurred_at")?,
                })
            })
            .collect()
    }

    /// Whether the action's history has an entry of this kind.
    pub async fn action_has_status(
        &self,
        action_id: i64,
        status: HistoryStatus,
    ) -> Result<bool, Error> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM action_status WHERE action_id = $1 AND status = $2",
        )
        .bind(action_id)
        .bind(status.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Number of history entries of an action (for the per-action quota).
    pub async fn action_status_count(&self, action_id: i64) -> Result<i64, Error> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM action_status WHERE action_id = $1")
                .bind(action_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The oldest open action of the target that includes the module, if any.
    pub async fn active_action_with_module(
        &self,
        target_id: i64,
        software_module_id: i64,
    ) -> Result<Option<i64>, Error> {
        Ok(sqlx::query_scalar(
            "SELECT a.action_id FROM action a JOIN distribution_set_module d \
             ON d.distribution_set_id = a.distribution_set_id \
             WHERE a.target_id = $1 AND d.software_module_id = $2 AND a.active = 1 \
             ORDER BY a.action_id LIMIT 1",
        )
        .bind(target_id)
        .bind(software_module_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Whether the target may download the module's artifacts: the module belongs to an open
    /// or finished action of the target.
    pub async fn module_assigned_to_target(
        &self,
        target_id: i64,
        software_module_id: i64,
    ) -> Result<bool, Error> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM action a JOIN distribution_set_module d \
             ON d.distribution_set_id = a.distribution_set_id \
             WHERE a.target_id = $1 AND d.software_module_id = $2 \
             AND (a.active = 1 OR a.status = $3)",
        )
        .bind(target_id)
        .bind(software_module_id)
        .bind(ActionState::Finished.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// What a base poll needs, in one round trip: the oldest open action of the target (what
    /// the device should see) and the newest finished one (its installed base).
    pub async fn poll_actions(
        &self,
        target_id: i64,
    ) -> Result<(Option<Action>, Option<Action>), Error> {
        let sql = format!(
            "SELECT * FROM (SELECT {ACTION_COLUMNS}, 0 AS poll_kind FROM action \
               WHERE target_id = $1 AND active = 1 ORDER BY action_id LIMIT 1) open_action \
             UNION ALL \
             SELECT * FROM (SELECT {ACTION_COLUMNS}, 1 AS poll_kind FROM action \
               WHERE target_id = $1 AND status = $2 ORDER BY action_id DESC LIMIT 1) done_action"
        );
        let rows = sqlx::query(&sql)
            .bind(target_id)
            .bind(ActionState::Finished.as_str())
            .fetch_all(&self.pool)
            .await?;
        let (mut open, mut done) = (None, None);
        for row in &rows {
            let action = action_from_row(row)?;
            if col::<i64>(row, "poll_kind")? == 0 {
                open = Some(action);
            } else {
                done = Some(action);
            }
        }
        Ok((open, done))
    }
}
