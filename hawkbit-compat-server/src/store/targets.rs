//! Targets and their attributes.

use std::collections::BTreeMap;

use ota_ddi::ConfigData;
use sqlx::any::AnyRow;

use super::{col, now_ms, page, Error, NewTarget, Store, Target};
use crate::secret::Secret;

const TARGET_COLUMNS: &str = "target_id, controller_id, name, description, security_token, \
     request_attributes, last_poll_at, created_at";

fn target_from_row(row: &AnyRow) -> Result<Target, Error> {
    Ok(Target {
        target_id: col(row, "target_id")?,
        controller_id: col(row, "controller_id")?,
        name: col(row, "name")?,
        description: col(row, "description")?,
        security_token: Secret::new(col::<String>(row, "security_token")?),
        request_attributes: col::<i64>(row, "request_attributes")? != 0,
        last_poll_at: col(row, "last_poll_at")?,
        created_at: col(row, "created_at")?,
    })
}

impl Store {
    /// Creates a target. New targets are asked for their attributes on first poll.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] if the controller id is taken.
    pub async fn create_target(&self, t: &NewTarget) -> Result<Target, Error> {
        // No view of a new target exists; one of a deleted target with the same controller id
        // went stale with the deletion.
        let sql = format!(
            "INSERT INTO target (controller_id, name, description, security_token, \
             request_attributes, created_at) VALUES ($1, $2, $3, $4, 1, $5) \
             RETURNING {TARGET_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&t.controller_id)
            .bind(&t.name)
            .bind(&t.description)
            .bind(t.security_token.expose())
            .bind(now_ms())
            .fetch_one(&self.pool)
            .await?;
        target_from_row(&row)
    }

    /// The target with this controller id.
    pub async fn target_by_controller_id(
        &self,
        controller_id: &str,
    ) -> Result<Option<Target>, Error> {
        let sql = format!("SELECT {TARGET_COLUMNS} FROM target WHERE controller_id = $1");
        let row = sqlx::query(&sql)
            .bind(controller_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .as_ref()
            .map(target_from_row)
            .transpose()?
            .map(|t| self.with_pending_poll(t)))
    }

    /// The target with this primary key.
    pub async fn target(&self, target_id: i64) -> Result<Option<Target>, Error> {
        let sql = format!("SELECT {TARGET_COLUMNS} FROM target WHERE target_id = $1");
        let row = sqlx::query(&sql)
            .bind(target_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .as_ref()
            .map(target_from_row)
            .transpose()?
            .map(|t| self.with_pending_poll(t)))
    }

    /// Returns the target, creating it first if it does not exist (auto-registration on the
    /// first poll of a device authenticated by the gateway token). Safe against two first polls
    /// racing: the loser of the insert reads the winner's row.
    pub async fn register_target(&self, controller_id: &str) -> Result<Target, Error> {
        if let Some(t) = self.target_by_controller_id(controller_id).await? {
            return Ok(t);
        }
        let new = NewTarget {
            controller_id: controller_id.to_owned(),
            name: controller_id.to_owned(),
            description: String::new(),
            security_token: Secret::generate_token(),
        };
        match self.create_target(&new).await {
            Ok(t) => Ok(t),
            Err(Error::Conflict) => self
                .target_by_controller_id(controller_id)
                .await?
                .ok_or(Error::NotFound("target")),
            Err(e) => Err(e),
        }
    }

    /// A page of targets ordered by controller id, and the total count.
    pub async fn list_targets(&self, offset: i64, limit: i64) -> Result<(Vec<Target>, i64), Error> {
        let (offset, limit) = page(offset, limit);
        let sql = format!(
            "SELECT {TARGET_COLUMNS} FROM target ORDER BY controller_id LIMIT $1 OFFSET $2"
        );
        let rows = sqlx::query(&sql)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM target")
            .fetch_one(&self.pool)
            .await?;
        Ok((
            rows.iter()
                .map(|r| target_from_row(r).map(|t| self.with_pending_poll(t)))
                .collect::<Result<_, _>>()?,
            total,
        ))
    }

    /// Deletes a target with its actions and attributes. Returns whether it existed.
    pub async fn delete_target(&self, controller_id: &str) -> Result<bool, Error> {
        let _changing = self.changing();
        let r = sqlx::query("DELETE FROM target WHERE controller_id = $1")
            .bind(controller_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Records a device's first poll at once (later polls are buffered, see `poll_marks.rs`):
    /// it turns the device from `unknown` to `registered`, which filters can select on.
    pub async fn record_first_poll(&self, target_id: i64, at: i64) -> Result<(), Error> {
        let _changing = self.changing_target(target_id);
        sqlx::query(
            "UPDATE target SET last_poll_at = $1 WHERE target_id = $2 AND last_poll_at IS NULL",
        )
        .bind(at)
        .bind(target_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets whether the server asks the device for its attributes.
    pub async fn set_request_attributes(&self, target_id: i64, request: bool) -> Result<(), Error> {
        let _changing = self.changing_target(target_id);
        sqlx::query("UPDATE target SET request_attributes = $1 WHERE target_id = $2")
            .bind(i64::from(request))
            .bind(target_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The target's attributes.
    pub async fn target_attributes(
        &self,
        target_id: i64,
    ) -> Result<BTreeMap<String, String>, Error> {
        let rows =
            sqlx::query("SELECT attr_key, attr_value FROM target_attribute WHERE target_id = $1")
                .bind(target_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((col(r, "attr_key")?, col(r, "attr_value")?)))
            .collect()
    }

    /// Applies a configData update (merge, replace or remove) and stops asking for attributes,
    /// in one transaction.
    pub async fn update_target_attributes(
        &self,
        target_id: i64,
        update: &ConfigData,
    ) -> Result<(), Error> {
        let _changing = self.changing_target(target_id);
        // Reads, then writes: begin with the write lock so concurrent writers wait instead of
        // failing with "database is locked" on SQLite.
        let mut tx = self.begin_write().await?;
        let rows =
            sqlx::query("SELECT attr_key, attr_value FROM target_attribute WHERE target_id = $1")
                .bind(target_id)
                .fetch_all(&mut *tx)
                .await?;
        let mut attrs = rows
            .iter()
            .map(|r| Ok((col(r, "attr_key")?, col(r, "attr_value")?)))
            .collect::<Result<BTreeMap<String, String>, Error>>()?;
        update.apply_to(&mut attrs);
        sqlx::query("DELETE FROM target_attribute WHERE target_id = $1")
            .bind(target_id)
            .execute(&mut *tx)
            .await?;
        for (k, v) in &attrs {
            sqlx::query(
                "INSERT INTO target_attribute (target_id, attr_key, attr_value) VALUES ($1, $2, $3)",
            )
            .bind(target_id)
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE target SET request_attributes = 0 WHERE target_id = $1")
            .bind(target_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
