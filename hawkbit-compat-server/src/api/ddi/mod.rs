//! The device-facing DDI API under `/{tenant}/controller/v1/{controllerId}`.
//!
//! Every route authenticates the device ([`DdiTarget`]) and only ever looks at that device's
//! own actions and modules; anything else answers 404, exactly like an id that does not exist,
//! so a device cannot probe for other devices' data. All routes are rate limited per client IP.
//!
//! Wire types and route templates come from `ota-ddi`, shared with the device agent.

mod cancel;
mod confirmation;
mod deployment;
mod device_config;
mod download;
mod poll;
mod poll_view;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use ota_ddi::paths::route;

use super::{ApiError, AppState};
use crate::secret::Secret;
use crate::store::{Action, Target};

/// Routes of the DDI API (rate limited).
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            route::CONTROLLER_BASE,
            get(poll::base_poll).layer(axum::Extension(std::sync::Arc::new(
                poll_view::PollViews::default(),
            ))),
        )
        .route(route::CONFIG_DATA, put(poll::put_config_data))
        .route(route::DEVICE_CONFIG, get(device_config::get_device_config))
        .route(
            route::DEVICE_CONFIG_APPLIED,
            put(device_config::put_applied),
        )
        .route(route::DEPLOYMENT_BASE, get(deployment::deployment_base))
        .route(
            route::DEPLOYMENT_FEEDBACK,
            post(deployment::deployment_feedback),
        )
        .route(route::INSTALLED_BASE, get(deployment::installed_base))
        .route(
            route::CONFIRMATION_BASE,
            get(confirmation::confirmation_base),
        )
        .route(
            route::CONFIRMATION_BASE_ACTION,
            get(confirmation::confirmation_action),
        )
        .route(
            route::CONFIRMATION_FEEDBACK,
            post(confirmation::confirmation_feedback),
        )
        .route(
            route::ACTIVATE_AUTO_CONFIRM,
            post(confirmation::activate_auto_confirm),
        )
        .route(
            route::DEACTIVATE_AUTO_CONFIRM,
            post(confirmation::deactivate_auto_confirm),
        )
        .route(route::CANCEL_ACTION, get(cancel::cancel_action))
        .route(route::CANCEL_FEEDBACK, post(cancel::cancel_feedback))
        .route(route::ARTIFACTS, get(download::list_artifacts))
        .route(route::ARTIFACT, get(download::download_artifact))
        .layer(axum::middleware::from_fn_with_state(state, rate_limit))
}

/// Rejects requests beyond the per-IP budget with 429 before any database work.
async fn rate_limit(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        state
            .limiter
            .check(addr.ip(), Instant::now())
            .map_err(ApiError::TooManyRequests)?;
    }
    Ok(next.run(req).await)
}

/// A DDI request before any database work: the tenant and controller id from the path, and the
/// credential the device presented.
///
/// Accepted credentials (the `Authorization` header, schemes as in hawkBit):
/// * `TargetToken <token>`: the device's own token; the target must exist.
/// * `GatewayToken <token>`: the server-wide gateway token, when configured; it may act as any
///   controller id and registers unknown devices on first contact.
///
/// The tenant segment must match the configured tenant (case-insensitively, since clients use
/// both `DEFAULT` and `default`); any other tenant is 404.
#[derive(Debug)]
pub struct DdiRequest {
    /// Tenant as the device spelled it (links echo it back).
    pub tenant: String,
    /// Controller id from the path.
    pub controller_id: String,
    credential: Credential,
    params: HashMap<String, String>,
}

/// What the `Authorization` header claims.
#[derive(Debug)]
enum Credential {
    Target(String),
    Gateway(String),
    /// Missing, malformed or an unknown scheme.
    Invalid,
}

const CHALLENGE: &str = "TargetToken";

fn unauthorized() -> ApiError {
    ApiError::Unauthorized {
        challenge: CHALLENGE,
    }
}

impl DdiRequest {
    /// Whether the credential admits the device whose token is `target_token` (checked
    /// without the database, for answers kept in memory).
    fn admits(&self, target_token: &Secret, state: &AppState) -> bool {
        match &self.credential {
            Credential::Target(t) => target_token.matches(t),
            Credential::Gateway(t) => state
                .config
                .gateway_token
                .as_ref()
                .is_some_and(|gw| gw.matches(t)),
            Credential::Invalid => false,
        }
    }

    /// Looks the device up and checks the credential; a gateway token registers an unknown
    /// device. Every failure is the same 401, so tokens cannot be probed.
    async fn authenticate(&self, state: &AppState) -> Result<Target, ApiError> {
        match &self.credential {
            Credential::Target(token) => {
                match state
                    .store
                    .target_by_controller_id(&self.controller_id)
                    .await?
                {
                    Some(t) if t.security_token.matches(token) => Ok(t),
                    _ => Err(unauthorized()),
                }
            }
            Credential::Gateway(token) => match &state.config.gateway_token {
                Some(gw) if gw.matches(token) => {
                    Ok(state.store.register_target(&self.controller_id).await?)
                }
                _ => Err(unauthorized()),
            },
            Credential::Invalid => Err(unauthorized()),
        }
    }
}

impl FromRequestParts<AppState> for DdiRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        let tenant = params.get("tenant").cloned().ok_or(ApiError::NotFound)?;
        if !tenant.eq_ignore_ascii_case(&state.config.tenant) {
            return Err(ApiError::NotFound);
        }
        let controller_id = params
            .get("controller_id")
            .cloned()
            .ok_or(ApiError::NotFound)?;
        if controller_id.is_empty() || controller_id.len() > 256 {
            return Err(ApiError::NotFound);
        }
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(unauthorized)?;
        let credential = match header.split_once(' ') {
            Some(("TargetToken", t)) => Credential::Target(t.trim().to_owned()),
            Some(("GatewayToken", t)) => Credential::Gateway(t.trim().to_owned()),
            _ => Credential::Invalid,
        };
        Ok(DdiRequest {
            tenant,
            controller_id,
            credential,
            params,
        })
    }
}

/// An authenticated device and the path it addressed (see [`DdiRequest`] for the credentials
/// accepted).
#[derive(Debug)]
pub struct DdiTarget {
    /// The device.
    pub target: Target,
    /// Tenant as the device spelled it (links echo it back).
    pub tenant: String,
    params: HashMap<String, String>,
}

impl DdiTarget {
    /// The controller id from the path.
    pub fn controller_id(&self) -> &str {
        &self.target.controller_id
    }

    fn param(&self, name: &str) -> Result<&str, ApiError> {
        self.params
            .get(name)
            .map(String::as_str)
            .ok_or(ApiError::NotFound)
    }

    /// A numeric id from the path; anything that is not a plain integer is 404.
    fn id_param(&self, name: &str) -> Result<i64, ApiError> {
        let s = self.param(name)?;
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::NotFound);
        }
        s.parse().map_err(|_| ApiError::NotFound)
    }

    /// The action addressed by `{action_id}`, if it belongs to this device.
    async fn own_action(&self, state: &AppState) -> Result<Action, ApiError> {
        let id = self.id_param("action_id")?;
        match state.store.action(id).await? {
            Some(a) if a.target_id == self.target.target_id => Ok(a),
            _ => Err(ApiError::NotFound),
        }
    }

    /// [`Self::own_action`] for a feedback report: 410 once the action is closed, since a
    /// device reporting on it is late rather than wrong.
    async fn own_open_action(&self, state: &AppState) -> Result<Action, ApiError> {
        let action = self.own_action(state).await?;
        if !action.active {
            return Err(ApiError::Gone);
        }
        Ok(action)
    }
}

/// The store's answer to a feedback write: an action closed (or settled by the operator)
/// between the handler's check and the write is 410, as if it had been closed before.
fn closed_meanwhile<T>(written: Result<T, crate::store::Error>) -> Result<(), ApiError> {
    match written {
        Ok(_) => Ok(()),
        Err(crate::store::Error::InvalidState(_)) => Err(ApiError::Gone),
        Err(e) => Err(e.into()),
    }
}

impl FromRequestParts<AppState> for DdiTarget {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let req = DdiRequest::from_request_parts(parts, state).await?;
        let target = req.authenticate(state).await?;
        Ok(DdiTarget {
            target,
            tenant: req.tenant,
            params: req.params,
        })
    }
}

/// Database ids are positive; DDI writes them unsigned.
fn ddi_id(id: i64) -> ota_ddi::ActionId {
    ota_ddi::ActionId(u64::try_from(id).unwrap_or_default())
}
