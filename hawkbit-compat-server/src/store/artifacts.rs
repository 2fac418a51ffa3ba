//! Artifact metadata (the bytes live in [`crate::artifacts`]).

use sqlx::any::AnyRow;

use super::{col, now_ms, Artifact, BundleMeta, Error, NewArtifact, Store};

const ARTIFACT_COLUMNS: &str = "artifact_id, software_module_id, filename, sha1, md5, sha256, \
     size, created_at, bundle_compatible, bundle_version";

fn artifact_from_row(row: &AnyRow) -> Result<Artifact, Error> {
    let size: i64 = col(row, "size")?;
    let bundle = match col::<Option<String>>(row, "bundle_compatible")? {
        Some(compatible) => Some(BundleMeta {
            compatible,
            version: col(row, "bundle_version")?,
        }),
        None => None,
    };
    Ok(Artifact {
        artifact_id: col(row, "artifact_id")?,
        software_module_id: col(row, "software_module_id")?,
        filename: col(row, "filename")?,
        sha1: col(row, "sha1")?,
        md5: col(row, "md5")?,
        sha256: col(row, "sha256")?,
        size: u64::try_from(size).map_err(|_| Error::Corrupt(format!("negative size {size}")))?,
        created_at: col(row, "created_at")?,
        bundle,
    })
}

impl Store {
    /// Records an artifact of a software module.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] if the module already has a file of that name,
    /// [`Error::NotFound`] if the module does not exist.
    pub async fn add_artifact(&self, a: &NewArtifact) -> Result<Artifact, Error> {
        let _changing = self.changing();
        let size = i64::try_from(a.size).map_err(|_| Error::InvalidState("artifact too large"))?;
        let sql = format!(
            "INSERT INTO artifact (software_module_id, filename, sha1, md5, sha256, size, \
             created_at, bundle_compatible, bundle_version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {ARTIFACT_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(a.software_module_id)
            .bind(&a.filename)
            .bind(&a.sha1)
            .bind(&a.md5)
            .bind(&a.sha256)
            .bind(size)
            .bind(now_ms())
            .bind(a.bundle.as_ref().map(|b| b.compatible.clone()))
            .bind(a.bundle.as_ref().and_then(|b| b.version.clone()))
            .fetch_one(&self.pool)
            .await?;
        artifact_from_row(&row)
    }

    /// The artifacts of a module, by file name.
    pub async fn artifacts_of_module(
        &self,
        software_module_id: i64,
    ) -> Result<Vec<Artifact>, Error> {
        let sql = format!(
            "SELECT {ARTIFACT_COLUMNS} FROM artifact WHERE software_module_id = $1 ORDER BY filename"
        );
        let rows = sqlx::query(&sql)
            .bind(software_module_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(artifact_from_row).collect()
    }

    /// One artifact of a module by file name.
    pub async fn artifact_by_name(
        &self,
        software_module_id: i64,
        filename: &str,
    ) -> Result<Option<Artifact>, Error> {
        let sql = format!(
            "SELECT {ARTIFACT_COLUMNS} FROM artifact WHERE software_module_id = $1 AND filename = $2"
        );
        let row = sqlx::query(&sql)
            .bind(software_module_id)
            .bind(filename)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(artifact_from_row).transpose()
    }

    /// The SHA-256 of every artifact (what the artifact folder must keep).
    pub async fn artifact_hashes(&self) -> Result<std::collections::HashSet<String>, Error> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT DISTINCT sha256 FROM artifact")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().collect())
    }
}
