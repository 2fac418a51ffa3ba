//! Tags, target types, saved target filters, hardware compatibility, and the compilation of
//! filter queries ([`crate::rollout::fiql`]) to parameterized SQL.
//!
//! A compiled query is a boolean SQL expression over the target table aliased `t`; every value
//! from the query is a bind parameter, never SQL text.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::Any;

use super::{col, now_ms, page, Error, Store, Target};
use crate::rollout::fiql::{self, Comparison, Field, Node, Op};

/// A bind parameter of a dynamically built statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Int(i64),
    Text(String),
}

/// A statement under construction: SQL text with `$n` placeholders and their values.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Sql {
            text: text.to_owned(),
            binds: Vec::new(),
        }
    }
    /// Appends SQL text (never user input).
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }
    /// Appends a placeholder bound to `b`.
    pub fn bind(&mut self, b: Bind) -> &mut Self {
        self.binds.push(b);
        let n = self.binds.len();
        self.text.push('$');
        self.text.push_str(&n.to_string());
        self
    }
    pub fn int(&mut self, v: i64) -> &mut Self {
        self.bind(Bind::Int(v))
    }
    pub fn text(&mut self, v: &str) -> &mut Self {
        self.bind(Bind::Text(v.to_owned()))
    }
    /// The sqlx query with all values bound.
    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for b in &self.binds {
            q = match b {
                Bind::Int(i) => q.bind(*i),
                Bind::Text(s) => q.bind(s.as_str()),
            };
        }
        q
    }
    /// The scalar query with all values bound.
    pub fn scalar<O>(&self) -> sqlx::query::QueryScalar<'_, Any, O, AnyArguments<'_>>
    where
        O: Send + Unpin,
        (O,): for<'r> sqlx::FromRow<'r, AnyRow>,
    {
        let mut q = sqlx::query_scalar(&self.text);
        for b in &self.binds {
            q = match b {
                Bind::Int(i) => q.bind(*i),
                Bind::Text(s) => q.bind(s.as_str()),
            };
        }
        q
    }
}

/// A `LIKE` pattern for a query value: lower case, `%`, `_` and `\` escaped, `*` as `%`.
fn like_pattern(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.to_lowercase().chars() {
        match c {
            '*' => out.push('%'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

const UPDATE_STATUS_SQL: &str = "(CASE \
     WHEN EXISTS (SELECT 1 FROM action ua WHERE ua.target_id = t.target_id AND ua.active = 1) \
       THEN 'pending' \
     WHEN (SELECT ub.status FROM action ub WHERE ub.target_id = t.target_id \
           ORDER BY ub.action_id DESC LIMIT 1) = 'error' THEN 'error' \
     WHEN EXISTS (SELECT 1 FROM action uc WHERE uc.target_id = t.target_id \
           AND uc.status = 'finished') THEN 'in_sync' \
     WHEN t.last_poll_at IS NOT NULL THEN 'registered' \
     ELSE 'unknown' END)";

fn ds_subquery(column: &str, installed: bool) -> String {
    let cond = if installed {
        "AND da.status = 'finished' "
    } else {
        ""
    };
    format!(
        "(SELECT dd.{column} FROM action da JOIN distribution_set dd \
         ON dd.distribution_set_id = da.distribution_set_id \
         WHERE da.target_id = t.target_id {cond}ORDER BY da.action_id DESC LIMIT 1)"
    )
}

/// Appends `(v1 OR v2 ...)` where each `vi` is `<expr> LIKE <pattern>`.
fn push_any_like(sql: &mut Sql, expr: &str, values: &[String]) {
    sql.push("(");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("LOWER(").push(expr).push(") LIKE ");
        sql.text(&like_pattern(v));
        sql.push(" ESCAPE '\\'");
    }
    sql.push(")");
}

fn push_comparison(sql: &mut Sql, c: &Comparison) {
    let negated = matches!(c.op, Op::Ne | Op::Out);
    if negated {
        sql.push("NOT ");
    }
    match &c.field {
        Field::Attribute(key) => {
            sql.push(
                "EXISTS (SELECT 1 FROM target_attribute fa WHERE fa.target_id = t.target_id \
                 AND fa.attr_key = ",
            );
            sql.text(key);
            sql.push(" AND ");
            push_any_like(sql, "fa.attr_value", &c.values);
            sql.push(")");
        }
        Field::Tag => {
            sql.push(
                "EXISTS (SELECT 1 FROM target_tag_assignment fta JOIN target_tag ft \
                 ON ft.target_tag_id = fta.target_tag_id WHERE fta.target_id = t.target_id AND ",
            );
            push_any_like(sql, "ft.name", &c.values);
            sql.push(")");
        }
        scalar => {
            let expr = match scalar {
                Field::Name => "t.name".to_owned(),
                Field::ControllerId => "t.controller_id".to_owned(),
                Field::Group => "COALESCE(t.target_group, '')".to_owned(),
                Field::TargetType => "COALESCE((SELECT fty.name FROM target_type fty \
                     WHERE fty.target_type_id = t.target_type_id), '')"
                    .to_owned(),
                Field::UpdateStatus => UPDATE_STATUS_SQL.to_owned(),
                Field::InstalledDsVersion => {
                    format!("COALESCE({}, '')", ds_subquery("version", true))
                }
                Field::InstalledDsName => format!("COALESCE({}, '')", ds_subquery("name", true)),
                Field::AssignedDsVersion => {
                    format!("COALESCE({}, '')", ds_subquery("version", false))
                }
                Field::AssignedDsName => format!("COALESCE({}, '')", ds_subquery("name", false)),
                Field::Attribute(_) | Field::Tag => unreachable!("handled above"),
            };
            push_any_like(sql, &expr, &c.values);
        }
    }
}

/// Appends the query as a boolean expression over `t`.
pub(crate) fn push_query(sql: &mut Sql, node: &Node) {
    match node {
        Node::And(items) | Node::Or(items) => {
            let joiner = if matches!(node, Node::And(_)) {
                " AND "
            } else {
                " OR "
            };
            sql.push("(");
            for (i, n) in items.iter().enumerate() {
                if i > 0 {
                    sql.push(joiner);
                }
                push_query(sql, n);
            }
            sql.push(")");
        }
        Node::Cmp(c) => {
            sql.push("(");
            push_comparison(sql, c);
            sql.push(")");
        }
    }
}

/// Whether target `t` is a development device: attribute `development=true`, tag
/// `development` or target type `development`.
const IS_DEVELOPMENT_SQL: &str = "(EXISTS (SELECT 1 FROM target_attribute xa \
       WHERE xa.target_id = t.target_id AND xa.attr_key = 'development' \
       AND LOWER(xa.attr_value) = 'true') \
     OR EXISTS (SELECT 1 FROM target_tag_assignment xta JOIN target_tag xt \
       ON xt.target_tag_id = xta.target_tag_id \
       WHERE xta.target_id = t.target_id AND LOWER(xt.name) = 'development') \
     OR EXISTS (SELECT 1 FROM target_type xty WHERE xty.target_type_id = t.target_type_id \
       AND LOWER(xty.name) = 'development'))";

/// Appends the development exclusion for a rollout or auto-assignment selected by `queries`:
/// development devices are left out unless a query names them explicitly, by a development
/// marker or by exact controller id.
pub(crate) fn push_development_exclusion(sql: &mut Sql, queries: &[&Node]) {
    if queries.iter().any(|q| q.mentions_development()) {
        sql.push("(1 = 1)");
        return;
    }
    let named: Vec<String> = queries
        .iter()
        .flat_map(|q| q.named_controller_ids())
        .collect();
    sql.push("(NOT ").push(IS_DEVELOPMENT_SQL);
    for id in &named {
        sql.push(" OR t.controller_id = ");
        sql.text(id);
    }
    sql.push(")");
}

/// Appends "the target whose id is `target_expr` may install distribution set `ds`": the set
/// declares no hardware revisions, or the target's `hw_revision` attribute is one of them.
pub(crate) fn push_compatible(sql: &mut Sql, target_expr: &str, ds: i64) {
    // Per dimension: the set lists nothing, or the target's attribute is one it lists. One
    // parenthesized expression, so callers can negate it.
    sql.push("(");
    for (i, (table, column, attr)) in COMPAT_DIMENSIONS.iter().enumerate() {
        if i > 0 {
            sql.push(" AND ");
        }
        sql.push(&format!(
            "(NOT EXISTS (SELECT 1 FROM {table} ch WHERE ch.distribution_set_id = "
        ));
        sql.int(ds);
        sql.push(&format!(
            ") OR EXISTS (SELECT 1 FROM target_attribute ca JOIN {table} ch2 \
             ON ch2.{column} = ca.attr_value WHERE ca.attr_key = '{attr}' AND ca.target_id = "
        ));
        sql.push(target_expr);
        sql.push(" AND ch2.distribution_set_id = ");
        sql.int(ds);
        sql.push("))");
    }
    sql.push(")");
}

/// What a distribution set can restrict, each against one target attribute: (table, column,
/// attribute). Fixed strings, never input.
const COMPAT_DIMENSIONS: [(&str, &str, &str); 2] = [
    ("distribution_set_hw_revision", "hw_revision", "hw_revision"),
    ("distribution_set_variant", "variant", "variant"),
];

/// Parses a stored query; stored queries were validated on the way in.
pub(crate) fn parse_stored(q: &str) -> Result<Node, Error> {
    fiql::parse(q).map_err(|e| Error::Corrupt(format!("stored query: {e}")))
}

/// A tag that can be put on targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTag {
    /// Primary key.
    pub target_tag_id: i64,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Display colour.
    pub colour: String,
    /// Creation time.
    pub created_at: i64,
}

/// A target type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetType {
    /// Primary key.
    pub target_type_id: i64,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Creation time.
    pub created_at: i64,
}

/// A saved query, optionally with an auto-assigned distribution set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetFilter {
    /// Primary key.
    pub target_filter_id: i64,
    /// Unique name.
    pub name: String,
    /// FIQL query.
    pub query: String,
    /// Distribution set assigned to every matching target.
    pub auto_assign_ds_id: Option<i64>,
    /// Action type of auto-assignments.
    pub auto_assign_action_type: Option<super::ActionType>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// Why a target may not get a distribution set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatible {
    /// The target attribute that does not fit: `hw_revision` or `variant`.
    pub attribute: &'static str,
    /// What the set supports.
    pub supported: Vec<String>,
    /// What the target reports (`None`: no such attribute).
    pub reported: Option<String>,
}

fn tag_from_row(r: &AnyRow) -> Result<TargetTag, Error> {
    Ok(TargetTag {
        target_tag_id: col(r, "target_tag_id")?,
        name: col(r, "name")?,
        description: col(r, "description")?,
        colour: col(r, "colour")?,
        created_at: col(r, "created_at")?,
    })
}

fn type_from_row(r: &AnyRow) -> Result<TargetType, Error> {
    Ok(TargetType {
        target_type_id: col(r, "target_type_id")?,
        name: col(r, "name")?,
        description: col(r, "description")?,
        created_at: col(r, "created_at")?,
    })
}

const FILTER_COLUMNS: &str = "target_filter_id, name, query, auto_assign_ds_id, \
     auto_assign_action_type, created_at, updated_at";

fn filter_from_row(r: &AnyRow) -> Result<TargetFilter, Error> {
    let at: Option<String> = col(r, "auto_assign_action_type")?;
    Ok(TargetFilter {
        target_filter_id: col(r, "target_filter_id")?,
        name: col(r, "name")?,
        query: col(r, "query")?,
        auto_assign_ds_id: col(r, "auto_assign_ds_id")?,
        auto_assign_action_type: at
            .map(|s| {
                s.parse()
                    .map_err(|()| Error::Corrupt(format!("action type {s:?}")))
            })
            .transpose()?,
        created_at: col(r, "created_at")?,
        updated_at: col(r, "updated_at")?,
    })
}

impl Store {
    /// Begins a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`, waiting up to the busy timeout): a deferred transaction that reads
    /// first fails with "database is locked" when another connection wrote in between, instead
    /// of waiting.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Any>, Error> {
        Ok(match self.backend {
            super::Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            super::Backend::Postgres => self.pool.begin().await?,
        })
    }

    // ---- tags ----------------------------------------------------------------------------

    /// Creates a tag.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] if the name is taken.
    pub async fn create_target_tag(
        &self,
        name: &str,
        description: &str,
        colour: &str,
    ) -> Result<TargetTag, Error> {
        let _changing = self.changing();
        let row = sqlx::query(
            "INSERT INTO target_tag (name, description, colour, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING target_tag_id, name, description, colour, created_at",
        )
        .bind(name)
        .bind(description)
        .bind(colour)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        tag_from_row(&row)
    }

    /// All tags by name.
    pub async fn list_target_tags(&self) -> Result<Vec<TargetTag>, Error> {
        let rows = sqlx::query(
            "SELECT target_tag_id, name, description, colour, created_at FROM target_tag ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(tag_from_row).collect()
    }

    /// One tag.
    pub async fn target_tag(&self, id: i64) -> Result<Option<TargetTag>, Error> {
        let row = sqlx::query(
            "SELECT target_tag_id, name, description, colour, created_at FROM target_tag \
             WHERE target_tag_id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(tag_from_row).transpose()
    }

    /// Deletes a tag (and its assignments). Returns whether it existed.
    pub async fn delete_target_tag(&self, id: i64) -> Result<bool, Error> {
        let _changing = self.changing();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM target_tag_assignment WHERE target_tag_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM target_tag WHERE target_tag_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
    }

    /// Puts a tag on a target (idempotent).
    pub async fn tag_target(&self, tag_id: i64, target_id: i64) -> Result<(), Error> {
        let _changing = self.changing_target(target_id);
        sqlx::query(
            "INSERT INTO target_tag_assignment (target_tag_id, target_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(tag_id)
        .bind(target_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a tag from a target. Returns whether it was there.
    pub async fn untag_target(&self, tag_id: i64, target_id: i64) -> Result<bool, Error> {
        let _changing = self.changing_target(target_id);
        let r = sqlx::query(
            "DELETE FROM target_tag_assignment WHERE target_tag_id = $1 AND target_id = $2",
        )
        .bind(tag_id)
        .bind(target_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Controller ids of the targets carrying a tag.
    pub async fn tagged_targets(&self, tag_id: i64) -> Result<Vec<String>, Error> {
        Ok(sqlx::query_scalar(
            "SELECT t.controller_id FROM target t JOIN target_tag_assignment a \
             ON a.target_id = t.target_id WHERE a.target_tag_id = $1 ORDER BY t.controller_id",
        )
        .bind(tag_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Tags of a target.
    pub async fn tags_of_target(&self, target_id: i64) -> Result<Vec<TargetTag>, Error> {
        let rows = sqlx::query(
            "SELECT g.target_tag_id, g.name, g.description, g.colour, g.created_at \
             FROM target_tag g JOIN target_tag_assignment a ON a.target_tag_id = g.target_tag_id \
             WHERE a.target_id = $1 ORDER BY g.name",
        )
        .bind(target_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(tag_from_row).collect()
    }

    // ---- target types and groups -----------------------------------------------------------

    /// Creates a target type.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] if the name is taken.
    pub async fn create_target_type(
        &self,
        name: &str,
        description: &str,
    ) -> Result<TargetType, Error> {
        let _changing = self.changing();
        let row = sqlx::query(
            "INSERT INTO target_type (name, description, created_at) VALUES ($1, $2, $3) \
             RETURNING target_type_id, name, description, created_at",
        )
        .bind(name)
        .bind(description)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        type_from_row(&row)
    }

    /// All target types by name.
    pub async fn list_target_types(&self) -> Result<Vec<TargetType>, Error> {
        let rows = sqlx::query(
            "SELECT target_type_id, name, description, created_at FROM target_type ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(type_from_row).collect()
    }

    /// One target type.
    pub async fn target_type(&self, id: i64) -> Result<Option<TargetType>, Error> {
        let row = sqlx::query(
            "SELECT target_type_id, name, description, created_at FROM target_type \
             WHERE target_type_id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(type_from_row).transpose()
    }

    /// Deletes a target type; its targets lose their type. Returns whether it existed.
    pub async fn delete_target_type(&self, id: i64) -> Result<bool, Error> {
        let _changing = self.changing();
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE target SET target_type_id = NULL WHERE target_type_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM target_type WHERE target_type_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
    }

    /// Sets or clears a target's type.
    pub async fn set_target_type(&self, target_id: i64, type_id: Option<i64>) -> Result<(), Error> {
        let _changing = self.changing_target(target_id);
        sqlx::query("UPDATE target SET target_type_id = $1 WHERE target_id = $2")
            .bind(type_id)
            .bind(target_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A target's type and group.
    pub async fn target_type_and_group(
        &self,
        target_id: i64,
    ) -> Result<(Option<TargetType>, Option<String>), Error> {
        let row =
            sqlx::query("SELECT target_type_id, target_group FROM target WHERE target_id = $1")
                .bind(target_id)
                .fetch_one(&self.pool)
                .await?;
        let type_id: Option<i64> = col(&row, "target_type_id")?;
        let group: Option<String> = col(&row, "target_group")?;
        let ty = match type_id {
            Some(id) => self.target_type(id).await?,
            None => None,
        };
        Ok((ty, group))
    }

    /// Sets or clears a target's group (hawkBit's `group` field).
    pub async fn set_target_group(&self, target_id: i64, group: Option<&str>) -> Result<(), Error> {
        let _changing = self.changing_target(target_id);
        sqlx::query("UPDATE target SET target_group = $1 WHERE target_id = $2")
            .bind(group)
            .bind(target_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- querying targets --------------------------------------------------------------------

    /// A page of the targets matching `query` (by controller id) and their count.
    pub async fn list_targets_matching(
        &self,
        query: &Node,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Target>, i64), Error> {
        let (offset, limit) = page(offset, limit);
        let mut count = Sql::new("SELECT COUNT(*) FROM target t WHERE ");
        push_query(&mut count, query);
        let total: i64 = count.scalar().fetch_one(&self.pool).await?;
        let mut ids = Sql::new("SELECT t.controller_id FROM target t WHERE ");
        push_query(&mut ids, query);
        ids.push(" ORDER BY t.controller_id LIMIT ");
        ids.int(limit).push(" OFFSET ").int(offset);
        let names: Vec<String> = ids.scalar().fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            if let Some(t) = self.target_by_controller_id(&n).await? {
                out.push(t);
            }
        }
        Ok((out, total))
    }

    /// Whether one target matches `query`.
    pub async fn target_matches(&self, target_id: i64, query: &Node) -> Result<bool, Error> {
        let mut sql = Sql::new("SELECT COUNT(*) FROM target t WHERE t.target_id = ");
        sql.int(target_id).push(" AND ");
        push_query(&mut sql, query);
        let n: i64 = sql.scalar().fetch_one(&self.pool).await?;
        Ok(n > 0)
    }

    // ---- saved filters -------------------------------------------------------------------------

    /// Saves a filter. The query must have been validated with [`fiql::parse`].
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] if the name is taken.
    pub async fn create_target_filter(
        &self,
        name: &str,
        query: &str,
    ) -> Result<TargetFilter, Error> {
        let _changing = self.changing();
        let now = now_ms();
        let row = sqlx::query(&format!(
            "INSERT INTO target_filter (name, query, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             RETURNING {FILTER_COLUMNS}"
        ))
        .bind(name)
        .bind(query)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        filter_from_row(&row)
    }

    /// Changes name and query of a filter.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::Conflict`].
    pub async fn update_target_filter(
        &self,
        id: i64,
        name: &str,
        query: &str,
    ) -> Result<TargetFilter, Error> {
        let _changing = self.changing();
        let row = sqlx::query(&format!(
            "UPDATE target_filter SET name = $1, query = $2, updated_at = $3 \
             WHERE target_filter_id = $4 RETURNING {FILTER_COLUMNS}"
        ))
        .bind(name)
        .bind(query)
        .bind(now_ms())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound("target filter"))?;
        filter_from_row(&row)
    }

    /// One filter.
    pub async fn target_filter(&self, id: i64) -> Result<Option<TargetFilter>, Error> {
        let row = sqlx::query(&format!(
            "SELECT {FILTER_COLUMNS} FROM target_filter WHERE target_filter_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(filter_from_row).transpose()
    }

    /// A page of filters by id, and the count.
    pub async fn list_target_filters(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<TargetFilter>, i64), Error> {
        let (offset, limit) = page(offset, limit);
        let rows = sqlx::query(&format!(
            "SELECT {FILTER_COLUMNS} FROM target_filter ORDER BY target_filter_id LIMIT $1 OFFSET $2"
        ))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM target_filter")
            .fetch_one(&self.pool)
            .await?;
        Ok((
            rows.iter().map(filter_from_row).collect::<Result<_, _>>()?,
            total,
        ))
    }

    /// Deletes a filter and its configuration history. Returns whether it existed.
    pub async fn delete_target_filter(&self, id: i64) -> Result<bool, Error> {
        let _changing = self.changing();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM config_revision WHERE scope = 'filter' AND scope_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM target_filter WHERE target_filter_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
    }

    /// Sets (or with `None` clears) the auto-assigned distribution set of a filter.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the filter does not exist.
    pub async fn set_auto_assign(
        &self,
        id: i64,
        ds: Option<(i64, super::ActionType)>,
    ) -> Result<TargetFilter, Error> {
        let _changing = self.changing();
        let row = sqlx::query(&format!(
            "UPDATE target_filter SET auto_assign_ds_id = $1, auto_assign_action_type = $2, \
             updated_at = $3 WHERE target_filter_id = $4 RETURNING {FILTER_COLUMNS}"
        ))
        .bind(ds.map(|d| d.0))
        .bind(ds.map(|d| d.1.as_str()))
        .bind(now_ms())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound("target filter"))?;
        filter_from_row(&row)
    }

    /// Ids of the filters with an auto-assigned distribution set.
    pub async fn auto_assign_filter_ids(&self) -> Result<Vec<i64>, Error> {
        Ok(sqlx::query_scalar(
            "SELECT target_filter_id FROM target_filter WHERE auto_assign_ds_id IS NOT NULL \
             ORDER BY target_filter_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    // ---- hardware compatibility ------------------------------------------------------------------

    /// Replaces the hardware revisions a distribution set supports (empty: any).
    pub async fn set_ds_hw_revisions(&self, ds: i64, revisions: &[String]) -> Result<(), Error> {
        self.set_ds_compat(0, ds, revisions).await
    }

    /// The hardware revisions a distribution set supports (empty: any).
    pub async fn ds_hw_revisions(&self, ds: i64) -> Result<Vec<String>, Error> {
        self.ds_compat(0, ds).await
    }

    /// Replaces the RAUC variants a distribution set supports (empty: any).
    pub async fn set_ds_variants(&self, ds: i64, variants: &[String]) -> Result<(), Error> {
        self.set_ds_compat(1, ds, variants).await
    }

    /// The RAUC variants a distribution set supports (empty: any).
    pub async fn ds_variants(&self, ds: i64) -> Result<Vec<String>, Error> {
        self.ds_compat(1, ds).await
    }

    async fn set_ds_compat(&self, dim: usize, ds: i64, values: &[String]) -> Result<(), Error> {
        let (table, column, _) = COMPAT_DIMENSIONS[dim];
        let _changing = self.changing();
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE distribution_set_id = $1"
        ))
        .bind(ds)
        .execute(&mut *tx)
        .await?;
        for v in values {
            sqlx::query(&format!(
                "INSERT INTO {table} (distribution_set_id, {column}) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING"
            ))
            .bind(ds)
            .bind(v)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn ds_compat(&self, dim: usize, ds: i64) -> Result<Vec<String>, Error> {
        let (table, column, _) = COMPAT_DIMENSIONS[dim];
        Ok(sqlx::query_scalar(&format!(
            "SELECT {column} FROM {table} WHERE distribution_set_id = $1 ORDER BY {column}"
        ))
        .bind(ds)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Checks that the target's `hw_revision` and `variant` attributes are ones the set
    /// supports (a set that lists none of a kind accepts any).
    pub async fn check_compatible(
        &self,
        target_id: i64,
        ds: i64,
    ) -> Result<Result<(), Incompatible>, Error> {
        for (dim, (_, _, attr)) in COMPAT_DIMENSIONS.iter().enumerate() {
            let supported = self.ds_compat(dim, ds).await?;
            if supported.is_empty() {
                continue;
            }
            let reported: Option<String> = sqlx::query_scalar(
                "SELECT attr_value FROM target_attribute WHERE target_id = $1 AND attr_key = $2",
            )
            .bind(target_id)
            .bind(*attr)
            .fetch_optional(&self.pool)
            .await?;
            if !reported.as_ref().is_some_and(|r| supported.contains(r)) {
                return Ok(Err(Incompatible {
                    attribute: attr,
                    supported,
                    reported,
                }));
            }
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(q: &str) -> Sql {
        let mut sql = Sql::default();
        push_query(&mut sql, &fiql::parse(q).unwrap());
        sql
    }

    #[test]
    fn values_become_parameters_never_sql() {
        let evil = "x'); DROP TABLE target; --";
        let sql = compile(&format!("name=={evil:?};attribute.k==v"));
        assert!(!sql.text.contains("DROP"), "{}", sql.text);
        assert!(sql
            .binds
            .contains(&Bind::Text("x'); drop table target; --".into())));
        assert_eq!(
            sql.binds.len(),
            3,
            "name value, attribute key, attribute value"
        );
    }

    #[test]
    fn wildcards_and_like_metacharacters() {
        assert_eq!(like_pattern("Rev-*"), "rev-%");
        assert_eq!(like_pattern("50%_a\\b"), "50\\%\\_a\\\\b");
    }

    #[test]
    fn placeholders_are_numbered_in_order() {
        let sql = compile("tag=in=(a,b);name!=c");
        assert!(sql.text.contains("$1") && sql.text.contains("$2") && sql.text.contains("$3"));
        assert!(sql.text.contains("NOT "), "{}", sql.text);
    }
}
