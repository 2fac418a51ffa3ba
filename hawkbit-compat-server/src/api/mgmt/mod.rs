//! The operator-facing management API under `/rest/v1`, shaped after hawkBit's so existing
//! scripts need few changes: camelCase JSON, create endpoints taking arrays, lists as
//! `{"content": [...], "total": N, "size": n}` paged with `offset` and `limit` (default 50).
//!
//! Authentication is HTTP Basic against operator accounts. `readonly` operators may use `GET`
//! (target tokens are hidden from them); everything else needs `admin`.

mod config;
mod distributions;
mod downgrade;
mod modules;
mod operators;
mod rollouts;
mod targetfilters;
mod targets;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState};
use crate::password;
use crate::store::Role;

/// Routes of the management API, nested under `/rest/v1` by the caller.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .merge(targets::router())
        .merge(modules::router())
        .merge(distributions::router())
        .merge(operators::router())
        .merge(targetfilters::router())
        .merge(rollouts::router())
        .merge(config::router())
        .layer(axum::middleware::from_fn_with_state(state, authenticate))
        // Added after the auth layer: the API description is public.
        .route("/openapi.json", axum::routing::get(openapi))
}

/// The OpenAPI 3 description of this API, hand-written next to the handlers
/// (`openapi.json`); a test checks that every route registered here appears in it.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// `GET /rest/v1/openapi.json`
async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI_JSON,
    )
}

/// The authenticated operator, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct Operator {
    /// Login name.
    pub username: String,
    /// Permissions.
    pub role: Role,
}

impl Operator {
    fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

const CHALLENGE: &str = "Basic realm=\"hawkbit-compat-server\"";

/// Checks HTTP Basic credentials and the role against the method.
async fn authenticate(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let unauthorized = || ApiError::Unauthorized {
        challenge: CHALLENGE,
    };
    let (user, pass) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())))
        .ok_or_else(unauthorized)?;
    let account = state.store.operator_by_username(&user).await?;
    // Argon2 is deliberately slow; keep it off the async worker threads.
    let verified = tokio::task::spawn_blocking(move || match &account {
        Some(a) if password::verify(&pass, &a.password_hash) => Some(a.role),
        _ => {
            password::verify_dummy(&pass);
            None
        }
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("password check panicked: {e}")))?;
    let Some(role) = verified else {
        tracing::info!(user = %user, "management API login failed");
        return Err(unauthorized());
    };
    let operator = Operator {
        username: user,
        role,
    };
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        operator.require_admin()?;
    }
    req.extensions_mut().insert(operator);
    Ok(next.run(req).await)
}

/// `offset` and `limit` query parameters.
#[derive(Debug, Deserialize)]
pub(crate) struct Paging {
    #[serde(default)]
    offset: i64,
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    50
}

/// A page of a list.
#[derive(Debug, Serialize)]
pub(crate) struct PagedList<T> {
    content: Vec<T>,
    total: i64,
    size: usize,
}

impl<T> PagedList<T> {
    fn new(content: Vec<T>, total: i64) -> Self {
        let size = content.len();
        PagedList {
            content,
            total,
            size,
        }
    }
}

/// A `{"id": N}` reference in request bodies.
#[derive(Debug, Deserialize)]
pub(crate) struct IdRef {
    id: i64,
}

/// Checks a name-like field: non-empty, bounded, no control characters.
fn check_name(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "{field} must be 1 to {max} characters without control characters"
        )));
    }
    Ok(())
}
