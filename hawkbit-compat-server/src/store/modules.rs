//! Software modules and their metadata.

use sqlx::any::AnyRow;

use super::{col, now_ms, page, Error, ModuleMetadata, NewSoftwareModule, SoftwareModule, Store};

const MODULE_COLUMNS: &str =
    "software_module_id, name, version, module_type, vendor, description, created_at";

fn module_from_row(row: &AnyRow) -> Result<SoftwareModule, Error> {
    Ok(SoftwareModule {
        software_module_id: col(row, "software_module_id")?,
        name: col(row, "name")?,
        version: col(row, "version")?,
        module_type: col(row, "module_type")?,
        vendor: col(row, "vendor")?,
        description: col(row, "description")?,
        created_at: col(row, "created_at")?,
    })
}

impl Store {
    /// Creates a software module.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] if name, version and type are taken.
    pub async fn create_software_module(
        &self,
        m: &NewSoftwareModule,
    ) -> Result<SoftwareModule, Error> {
        let _changing = self.changing();
        let sql = format!(
            "INSERT INTO software_module (name, version, module_type, vendor, description, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {MODULE_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&m.name)
            .bind(&m.version)
            .bind(&m.module_type)
            .bind(&m.vendor)
            .bind(&m.description)
            .bind(now_ms())
            .fetch_one(&self.pool)
            .await?;
        module_from_row(&row)
    }

    /// The software module with this id.
    pub async fn software_module(&self, id: i64) -> Result<Option<SoftwareModule>, Error> {
        let sql =
            format!("SELECT {MODULE_COLUMNS} FROM software_module WHERE software_module_id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(module_from_row).transpose()
    }

    /// A page of software modules (newest first) and the total count.
    pub async fn list_software_modules(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<SoftwareModule>, i64), Error> {
        let (offset, limit) = page(offset, limit);
        let sql = format!(
            "SELECT {MODULE_COLUMNS} FROM software_module \
             ORDER BY software_module_id DESC LIMIT $1 OFFSET $2"
        );
        let rows = sqlx::query(&sql)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM software_module")
            .fetch_one(&self.pool)
            .await?;
        Ok((
            rows.iter().map(module_from_row).collect::<Result<_, _>>()?,
            total,
        ))
    }

    /// The modules of a distribution set, ordered by id.
    pub async fn modules_of_distribution_set(
        &self,
        ds_id: i64,
    ) -> Result<Vec<SoftwareModule>, Error> {
        let sql = format!(
            "SELECT {} FROM software_module m \
             JOIN distribution_set_module d ON d.software_module_id = m.software_module_id \
             WHERE d.distribution_set_id = $1 ORDER BY m.software_module_id",
            MODULE_COLUMNS
                .split(", ")
                .map(|c| format!("m.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let rows = sqlx::query(&sql).bind(ds_id).fetch_all(&self.pool).await?;
        rows.iter().map(module_from_row).collect()
    }

    /// Inserts or replaces a metadata entry.
    pub async fn set_module_metadata(&self, id: i64, entry: &ModuleMetadata) -> Result<(), Error> {
        let _changing = self.changing();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM software_module_metadata WHERE software_module_id = $1 AND meta_key = $2",
        )
        .bind(id)
        .bind(&entry.key)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO software_module_metadata (software_module_id, meta_key, meta_value, \
             target_visible) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(&entry.key)
        .bind(&entry.value)
        .bind(i64::from(entry.target_visible))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Metadata of a module, by key; only target-visible entries if `visible_only`.
    pub async fn module_metadata(
        &self,
        id: i64,
        visible_only: bool,
    ) -> Result<Vec<ModuleMetadata>, Error> {
        let rows = sqlx::query(
            "SELECT meta_key, meta_value, target_visible FROM software_module_metadata \
             WHERE software_module_id = $1 AND (target_visible = 1 OR $2 = 0) ORDER BY meta_key",
        )
        .bind(id)
        .bind(i64::from(visible_only))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ModuleMetadata {
                    key: col(r, "meta_key")?,
                    value: col(r, "meta_value")?,
                    target_visible: col::<i64>(r, "target_visible")? != 0,
                })
            })
            .collect()
    }
}
