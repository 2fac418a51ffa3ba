//! `/rest/v1/operators`: operator accounts (admins only, reads included).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use super::{check_name, Operator};
use crate::api::{parse_json, ApiError, AppState};
use crate::password;
use crate::store::{self, Role};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/operators", get(list).post(create))
        .route("/operators/{username}", delete(remove))
}

#[derive(Deserialize)]
struct NewOperatorBody {
    username: String,
    password: String,
    role: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OperatorBody {
    username: String,
    role: &'static str,
    created_at: i64,
}

impl From<store::Operator> for OperatorBody {
    fn from(o: store::Operator) -> Self {
        OperatorBody {
            username: o.username,
            role: o.role.as_str(),
            created_at: o.created_at,
        }
    }
}

async fn list(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
) -> Result<Json<Vec<OperatorBody>>, ApiError> {
    op.require_admin()?;
    Ok(Json(
        state
            .store
            .list_operators()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// `POST /operators` with `{"username", "password", "role": "admin"|"readonly"}`.
async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<OperatorBody>), ApiError> {
    let req: NewOperatorBody = parse_json(&body)?;
    check_name("username", &req.username, 64)?;
    if req.username.contains(':') {
        return Err(ApiError::BadRequest("username must not contain ':'".into()));
    }
    if req.password.len() < 12 || req.password.len() > 1024 {
        return Err(ApiError::BadRequest(
            "password must be 12 to 1024 bytes".into(),
        ));
    }
    let role: Role = req
        .role
        .parse()
        .map_err(|()| ApiError::BadRequest("role must be admin or readonly".into()))?;
    let password = req.password;
    let hash = tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing panicked: {e}")))?
        .map_err(|e| ApiError::Internal(e.into()))?;
    let op = state
        .store
        .create_operator(&req.username, &hash, role)
        .await
        .map_err(|e| match e {
            store::Error::Conflict => {
                ApiError::Conflict(format!("operator {} exists", req.username))
            }
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(op.into())))
}

async fn remove(
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_operator(&username).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
