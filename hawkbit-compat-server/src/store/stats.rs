//! Counts for the `/metrics` endpoint.

use super::{ActionState, Error, Store};

impl Store {
    /// Number of registered targets.
    pub async fn count_targets(&self) -> Result<i64, Error> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM target")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Number of open actions per state (`running`, `wait_for_confirmation`, `canceling`), all
    /// always present.
    pub async fn count_active_actions(&self) -> Result<Vec<(ActionState, i64)>, Error> {
        let mut out = Vec::with_capacity(3);
        for state in [
            ActionState::Running,
            ActionState::WaitForConfirmation,
            ActionState::Canceling,
        ] {
            let n: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM action WHERE active = 1 AND status = $1")
                    .bind(state.as_str())
                    .fetch_one(&self.pool)
                    .await?;
            out.push((state, n));
        }
        Ok(out)
    }
}
