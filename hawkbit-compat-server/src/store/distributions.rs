//! Distribution sets.

use sqlx::any::AnyRow;

use super::{col, now_ms, page, DistributionSet, Error, NewDistributionSet, Store};

const DS_COLUMNS: &str = "distribution_set_id, name, version, description, created_at";

fn ds_from_row(row: &AnyRow, module_ids: Vec<i64>) -> Result<DistributionSet, Error> {
    Ok(DistributionSet {
        distribution_set_id: col(row, "distribution_set_id")?,
        name: col(row, "name")?,
        version: col(row, "version")?,
        description: col(row, "description")?,
        created_at: col(row, "created_at")?,
        module_ids,
    })
}

impl Store {
    /// Creates a distribution set from existing software modules, in one transaction.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] if name and version are taken, [`Error::NotFound`] if a module
    /// does not exist.
    pub async fn create_distribution_set(
        &self,
        d: &NewDistributionSet,
    ) -> Result<DistributionSet, Error> {
        let _changing = self.changing();
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "INSERT INTO distribution_set (name, version, description, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING {DS_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&d.name)
            .bind(&d.version)
            .bind(&d.description)
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await?;
        let id: i64 = col(&row, "distribution_set_id")?;
        let mut module_ids = d.module_ids.clone();
        module_ids.sort_unstable();
        module_ids.dedup();
        for m in &module_ids {
            // Checked explicitly: SQLite only enforces foreign keys when the connection enabled
            // them, and a dangling module would surface much later as an empty deployment.
            let exists: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM software_module WHERE software_module_id = $1",
            )
            .bind(m)
            .fetch_one(&mut *tx)
            .await?;
            if exists == 0 {
                return Err(Error::NotFound("software module"));
            }
            sqlx::query(
                "INSERT INTO distribution_set_module (distribution_set_id, software_module_id) \
                 VALUES ($1, $2)",
            )
            .bind(id)
            .bind(m)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        ds_from_row(&row, module_ids)
    }

    /// The distribution set with this id.
    pub async fn distribution_set(&self, id: i64) -> Result<Option<DistributionSet>, Error> {
        let sql =
            format!("SELECT {DS_COLUMNS} FROM distribution_set WHERE distribution_set_id = $1");
        let Some(row) = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let modules = self.module_ids_of(id).await?;
        ds_from_row(&row, modules).map(Some)
    }

    /// A page of distribution sets (newest first) and the total count.
    pub async fn list_distribution_sets(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<DistributionSet>, i64), Error> {
        let (offset, limit) = page(offset, limit);
        let sql = format!(
            "SELECT {DS_COLUMNS} FROM distribution_set ORDER BY distribution_set_id DESC \
             LIMIT $1 OFFSET $2"
        );
        let rows = sqlx::query(&sql)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = col(row, "distribution_set_id")?;
            out.push(ds_from_row(row, self.module_ids_of(id).await?)?);
        }
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM distribution_set")
            .fetch_one(&self.pool)
            .await?;
        Ok((out, total))
    }

    async fn module_ids_of(&self, ds_id: i64) -> Result<Vec<i64>, Error> {
        Ok(sqlx::query_scalar(
            "SELECT software_module_id FROM distribution_set_module \
             WHERE distribution_set_id = $1 ORDER BY software_module_id",
        )
        .bind(ds_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
