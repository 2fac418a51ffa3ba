//! Operator accounts of the management API.

use sqlx::any::AnyRow;

use super::{col, now_ms, parse_col, Error, Operator, Role, Store};

const OPERATOR_COLUMNS: &str = "operator_id, username, password_hash, role, created_at";

fn operator_from_row(row: &AnyRow) -> Result<Operator, Error> {
    Ok(Operator {
        operator_id: col(row, "operator_id")?,
        username: col(row, "username")?,
        password_hash: col(row, "password_hash")?,
        role: parse_col(row, "role")?,
        created_at: col(row, "created_at")?,
    })
}

impl Store {
    /// Creates an operator. `password_hash` must already be a PHC hash string.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] if the user name is taken.
    pub async fn create_operator(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<Operator, Error> {
        let sql = format!(
            "INSERT INTO operator (username, password_hash, role, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING {OPERATOR_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(username)
            .bind(password_hash)
            .bind(role.as_str())
            .bind(now_ms())
            .fetch_one(&self.pool)
            .await?;
        operator_from_row(&row)
    }

    /// The operator with this user name.
    pub async fn operator_by_username(&self, username: &str) -> Result<Option<Operator>, Error> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operator WHERE username = $1");
        let row = sqlx::query(&sql)
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(operator_from_row).transpose()
    }

    /// All operators by user name.
    pub async fn list_operators(&self) -> Result<Vec<Operator>, Error> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operator ORDER BY username");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(operator_from_row).collect()
    }

    /// Number of operators.
    pub async fn operator_count(&self) -> Result<i64, Error> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM operator")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Deletes an operator, refusing to delete the last admin (which would lock everyone out of
    /// the management API). Returns whether it existed. One transaction.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] for the last admin.
    pub async fn delete_operator(&self, username: &str) -> Result<bool, Error> {
        let mut tx = self.pool.begin().await?;
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM operator WHERE username = $1")
                .bind(username)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(role) = role else {
            return Ok(false);
        };
        if role == Role::Admin.as_str() {
            let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM operator WHERE role = $1")
                .bind(Role::Admin.as_str())
                .fetch_one(&mut *tx)
                .await?;
            if admins <= 1 {
                return Err(Error::InvalidState("cannot delete the last admin"));
            }
        }
        sqlx::query("DELETE FROM operator WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
