//! `/rest/v1/targets`

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use super::{check_name, Operator, PagedList, Paging};
use crate::api::{parse_json, ApiError, AppState};
use crate::secret::Secret;
use crate::store::{self, ActionType, NewTarget, Role};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/targets", get(list).post(create))
        .route("/targets/{controller_id}", get(show).delete(remove))
        .route("/targets/{controller_id}/attributes", get(attributes))
        .route("/targets/{controller_id}/actions", get(actions))
        .route(
            "/targets/{controller_id}/actions/{action_id}",
            delete(cancel_action),
        )
        .route(
            "/targets/{controller_id}/actions/{action_id}/status",
            get(action_status),
        )
        .route(
            "/targets/{controller_id}/actions/{action_id}/confirmation",
            axum::routing::put(confirm_action),
        )
        .route("/targets/{controller_id}/autoConfirm", get(auto_confirm))
        .route(
            "/targets/{controller_id}/autoConfirm/activate",
            post(activate_auto_confirm),
        )
        .route(
            "/targets/{controller_id}/autoConfirm/deactivate",
            post(deactivate_auto_confirm),
        )
        .route(
            "/targets/{controller_id}/assignedDS",
            get(assigned_ds).post(assign_ds),
        )
        .route("/targets/{controller_id}/installedDS", get(installed_ds))
}

/// The distribution set as JSON, or 204 when there is none (as hawkBit answers).
async fn ds_or_no_content(
    state: &AppState,
    ds: Option<i64>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let Some(id) = ds else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let ds = state
        .store
        .distribution_set(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(super::distributions::DsBody::from(ds)).into_response())
}

/// `GET /targets/{id}/assignedDS`: the set of the target's newest assignment, finished or not.
async fn assigned_ds(
    State(state): State<AppState>,
    Path(controller_id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let t = target_or_404(&state, &controller_id).await?;
    let newest = state.store.actions_of_target(t.target_id).await?;
    ds_or_no_content(&state, newest.first().map(|a| a.distribution_set_id)).await
}

/// `GET /targets/{id}/installedDS`: the set the target last installed successfully.
async fn installed_ds(
    State(state): State<AppState>,
    Path(controller_id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let t = target_or_404(&state, &controller_id).await?;
    let done = state.store.last_finished_action(t.target_id).await?;
    ds_or_no_content(&state, done.map(|a| a.distribution_set_id)).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewTargetBody {
    controller_id: String,
    name: Option<String>,
    #[serde(default)]
    description: String,
    security_token: Option<String>,
}

/// A target as operators see it. The token is shown to admins only.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TargetBody {
    controller_id: String,
    name: String,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    security_token: Option<String>,
    request_attributes: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_controller_request_at: Option<i64>,
    created_at: i64,
}

impl TargetBody {
    fn new(t: store::Target, viewer: &Operator) -> Self {
        TargetBody {
            security_token: (viewer.role == Role::Admin)
                .then(|| t.security_token.expose().to_owned()),
            controller_id: t.controller_id,
            name: t.name,
            description: t.description,
            request_attributes: t.request_attributes,
            last_controller_request_at: t.last_poll_at,
            created_at: t.created_at,
        }
    }
}

async fn target_or_404(state: &AppState, controller_id: &str) -> Result<store::Target, ApiError> {
    state
        .store
        .target_by_controller_id(controller_id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// `POST /targets`: creates targets; a token is generated unless one is given.
async fn create(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    body: Bytes,
) -> Result<(StatusCode, Json<Vec<TargetBody>>), ApiError> {
    let items: Vec<NewTargetBody> = parse_json(&body)?;
    for item in &items {
        check_name("controllerId", &item.controller_id, 256)?;
        if item.controller_id.contains('/') {
            return Err(ApiError::BadRequest(
                "controllerId must not contain '/'".into(),
            ));
        }
        if let Some(tok) = &item.security_token {
            if tok.len() < 16 || tok.len() > 128 || !tok.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ApiError::BadRequest(
                    "securityToken must be 16 to 128 printable ASCII characters".into(),
                ));
            }
        }
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let new = NewTarget {
            name: item.name.unwrap_or_else(|| item.controller_id.clone()),
            controller_id: item.controller_id,
            description: item.description,
            security_token: item
                .security_token
                .map_or_else(Secret::generate_token, Secret::new),
        };
        let t = state.store.create_target(&new).await.map_err(|e| match e {
            store::Error::Conflict => {
                ApiError::Conflict(format!("target {} already exists", new.controller_id))
            }
            other => other.into(),
        })?;
        crate::rollout::auto_assign_target(&state.store, t.target_id, crate::store::now_ms())
            .await?;
        out.push(TargetBody::new(t, &op));
    }
    Ok((StatusCode::CREATED, Json(out)))
}

#[derive(Debug, Deserialize)]
struct TargetQuery {
    q: Option<String>,
}

/// `GET /targets`, optionally `?q=<FIQL>` (see [`crate::rollout::fiql`]).
async fn list(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    Query(p): Query<Paging>,
    Query(tq): Query<TargetQuery>,
) -> Result<Json<PagedList<TargetBody>>, ApiError> {
    let (targets, total) = match tq.q.as_deref().filter(|q| !q.trim().is_empty()) {
        Some(q) => {
            let node = super::targetfilters::parse_query(q)?;
            state
                .store
                .list_targets_matching(&node, p.offset, p.limit)
                .await?
        }
        None => state.store.list_targets(p.offset, p.limit).await?,
    };
    Ok(Json(PagedList::new(
        targets
            .into_iter()
            .map(|t| TargetBody::new(t, &op))
            .collect(),
        total,
    )))
}

async fn show(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    Path(controller_id): Path<String>,
) -> Result<Json<TargetBody>, ApiError> {
    Ok(Json(TargetBody::new(
        target_or_404(&state, &controller_id).await?,
        &op,
    )))
}

async fn remove(
    State(state): State<AppState>,
    Path(controller_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_target(&controller_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

async fn attributes(
    State(state): State<AppState>,
    Path(controller_id): Path<String>,
) -> Result<Json<BTreeMap<String, String>>, ApiError> {
    let t = target_or_404(&state, &controller_id).await?;
    Ok(Json(state.store.target_attributes(t.target_id).await?))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ActionBody {
    id: i64,
    #[serde(rename = "type")]
    action_type: &'static str,
    status: &'static str,
    active: bool,
    distribution_set_id: i64,
    created_at: i64,
    last_modified_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    force_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    weight: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    maintenance_window: Option<MaintenanceWindowBody>,
}

/// An assignment's maintenance window, as given (and as shown on actions).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MaintenanceWindowBody {
    /// Quartz cron expression of window starts.
    schedule: String,
    /// `HH:MM:SS`.
    duration: String,
    /// `+HH:MM`; UTC when absent.
    #[serde(default)]
    timezone: String,
}

impl From<store::Action> for ActionBody {
    fn from(a: store::Action) -> Self {
        ActionBody {
            id: a.action_id,
            action_type: a.action_type.as_str(),
            status: a.state.as_str(),
            active: a.active,
            distribution_set_id: a.distribution_set_id,
            created_at: a.created_at,
            last_modified_at: a.updated_at,
            force_time: a.forced_time,
            weight: a.weight,
            maintenance_window: a.maintenance.map(|m| MaintenanceWindowBody {
                schedule: m.schedule,
                duration: m.duration,
                timezone: m.timezone,
            }),
        }
    }
}

async fn actions(
    State(state): State<AppState>,
    Path(controller_id): Path<String>,
) -> Result<Json<PagedList<ActionBody>>, ApiError> {
    let t = target_or_404(&state, &controller_id).await?;
    let actions: Vec<ActionBody> = state
        .store
        .actions_of_target(t.target_id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let total = i64::try_from(actions.len()).unwrap_or(i64::MAX);
    Ok(Json(PagedList::new(actions, total)))
}

async fn own_action(
    state: &AppState,
    controller_id: &str,
    action_id: i64,
) -> Result<store::Action, ApiError> {
    let t = target_or_404(state, controller_id).await?;
    match state.store.action(action_id).await? {
        Some(a) if a.target_id == t.target_id => Ok(a),
        _ => Err(ApiError::NotFound),
    }
}

/// `DELETE /targets/{id}/actions/{actionId}`: asks the device to cancel (as in hawkBit).
async fn cancel_action(
    State(state): State<AppState>,
    Path((controller_id, action_id)): Path<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    own_action(&state, &controller_id, action_id).await?;
    state.store.request_cancel(action_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody {
    id: i64,
    #[serde(rename = "type")]
    status: &'static str,
    messages: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<i64>,
    reported_at: i64,
}

async fn action_status(
    State(state): State<AppState>,
    Path((controller_id, action_id)): Path<(String, i64)>,
    Query(p): Query<Paging>,
) -> Result<Json<PagedList<StatusBody>>, ApiError> {
    own_action(&state, &controller_id, action_id).await?;
    let total = state.store.action_status_count(action_id).await?;
    let entries = state
        .store
        .action_history(
            action_id,
            p.offset.max(0).saturating_add(p.limit.clamp(1, 500)),
        )
        .await?;
    let content = entries
        .into_iter()
        .skip(usize::try_from(p.offset.max(0)).unwrap_or(usize::MAX))
        .map(|e| StatusBody {
            id: e.action_status_id,
            status: e.status.as_str(),
            messages: e.messages,
            code: e.code,
            reported_at: e.occurred_at,
        })
        .collect();
    Ok(Json(PagedList::new(content, total)))
}

/// What an assignment may say besides target, distribution set and type (hawkBit's names).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AssignOptionsBody {
    /// When a `timeforced` action turns forced (ms since the epoch).
    #[serde(rename = "forcetime")]
    force_time: Option<i64>,
    /// Priority, 0 to 1000.
    weight: Option<i64>,
    /// Whether the action waits for the device's confirmation; only with the consent flow
    /// enabled, where it defaults to true.
    confirmation_required: Option<bool>,
    /// When the device may install.
    maintenance_window: Option<MaintenanceWindowBody>,
}

/// Checks an assignment's options and turns them into the store's.
pub(super) fn assign_options(
    state: &AppState,
    action_type: ActionType,
    body: &AssignOptionsBody,
) -> Result<store::AssignOptions, ApiError> {
    if let Some(w) = body.weight {
        if !(0..=1000).contains(&w) {
            return Err(ApiError::BadRequest("weight must be 0 to 1000".into()));
        }
    }
    let forced_time = match (action_type, body.force_time) {
        (ActionType::TimeForced, None) => {
            return Err(ApiError::BadRequest(
                "type timeforced needs forcetime (ms since the epoch)".into(),
            ))
        }
        (ActionType::TimeForced, Some(t)) => Some(t),
        (_, _) => None,
    };
    let maintenance = match &body.maintenance_window {
        None => None,
        Some(m) => {
            let schedule =
                crate::schedule::MaintenanceSchedule::parse(&m.schedule, &m.duration, &m.timezone)
                    .map_err(|e| ApiError::BadRequest(format!("maintenanceWindow: {e}")))?;
            if schedule.state_at(store::now_ms()) == crate::schedule::WindowState::Lapsed {
                return Err(ApiError::BadRequest(
                    "maintenanceWindow: the schedule never opens a window after now".into(),
                ));
            }
            Some(store::MaintenanceWindow {
                schedule: m.schedule.clone(),
                duration: m.duration.clone(),
                timezone: m.timezone.clone(),
            })
        }
    };
    Ok(store::AssignOptions {
        action_type,
        forced_time,
        weight: body.weight,
        maintenance,
        confirmation_required: state.config.confirmation_flow
            && body.confirmation_required.unwrap_or(true),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfirmationBody {
    confirmation: ota_ddi::Confirmation,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    details: Vec<String>,
}

/// `PUT /targets/{id}/actions/{actionId}/confirmation`: the operator answers for the device
/// (`confirmed` or `denied`). 409 unless the action waits for confirmation.
async fn confirm_action(
    State(state): State<AppState>,
    Path((controller_id, action_id)): Path<(String, i64)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    own_action(&state, &controller_id, action_id).await?;
    let req: ConfirmationBody = parse_json(&body)?;
    let details = req.details.into_iter().take(100).collect();
    match state
        .store
        .confirm_action(
            action_id,
            req.confirmation == ota_ddi::Confirmation::Confirmed,
            req.code,
            details,
        )
        .await
    {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(store::Error::InvalidState(m)) => Err(ApiError::Conflict(m.into())),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AutoConfirmBody {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    initiator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remark: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    activated_at: Option<i64>,
}

/// `GET /targets/{id}/autoConfirm`
async fn auto_confirm(
    State(state): State<AppState>,
    Path(controller_id): Path<String>,
) -> Result<Json<AutoConfirmBody>, ApiError> {
    let t = target_or_404(&state, &controller_id).await?;
    let a = state.store.auto_confirm(t.target_id).await?;
    Ok(Json(AutoConfirmBody {
        active: a.active,
        initiator: a.initiator,
        remark: a.remark,
        activated_at: a.activated_at,
    }))
}

#[derive(Debug, Default, Deserialize)]
struct ActivateBody {
    initiator: Option<String>,
    remark: Option<String>,
}

/// `POST /targets/{id}/autoConfirm/activate` (body optional): confirms what waits; 409 if on.
async fn activate_auto_confirm(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    Path(controller_id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let t = target_or_404(&state, &controller_id).await?;
    let req: ActivateBody = if body.iter().all(u8::is_ascii_whitespace) {
        ActivateBody::default()
    } else {
        parse_json(&body)?
    };
    let initiator = req.initiator.unwrap_or_else(|| op.username.clone());
    match state
        .store
        .set_auto_confirm(
            t.target_id,
            Some((Some(initiator.as_str()), req.remark.as_deref())),
        )
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(store::Error::InvalidState(m)) => Err(ApiError::Conflict(m.into())),
        Err(e) => Err(e.into()),
    }
}

/// `POST /targets/{id}/autoConfirm/deactivate`
async fn deactivate_auto_confirm(
    State(state): State<AppState>,
    Path(controller_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let t = target_or_404(&state, &controller_id).await?;
    state.store.set_auto_confirm(t.target_id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `type` of an assignment.
pub(super) fn parse_action_type(t: Option<&str>) -> Result<ActionType, ApiError> {
    match t {
        None => Ok(ActionType::Forced),
        Some(s) => s.parse().map_err(|()| {
            ApiError::BadRequest("type must be forced, soft, timeforced or downloadonly".into())
        }),
    }
}

/// Result of an assignment, as hawkBit reports it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AssignmentResult {
    pub assigned: usize,
    pub already_assigned: usize,
    pub total: usize,
    pub assigned_actions: Vec<ActionRef>,
}

#[derive(Debug, Serialize)]
pub(super) struct ActionRef {
    pub id: i64,
}

#[derive(Debug, Deserialize)]
struct AssignDsBody {
    id: i64,
    #[serde(rename = "type")]
    action_type: Option<String>,
    /// Allow a bundle older than the target's installed version.
    #[serde(default)]
    downgrade: bool,
    #[serde(flatten)]
    options: AssignOptionsBody,
}

/// Assigns unless the target is already running an action for the same distribution set and
/// type (then nothing changes: re-sending an assignment must not cancel and restart an update
/// that is in progress). Returns the new action's id, or `None` when already assigned.
pub(super) async fn assign_once(
    state: &AppState,
    target_id: i64,
    ds_id: i64,
    opts: &store::AssignOptions,
) -> Result<Option<i64>, ApiError> {
    let already = state
        .store
        .active_actions(target_id)
        .await?
        .into_iter()
        .any(|a| {
            a.distribution_set_id == ds_id
                && a.action_type == opts.action_type
                && matches!(
                    a.state,
                    store::ActionState::Running | store::ActionState::WaitForConfirmation
                )
        });
    if already {
        return Ok(None);
    }
    Ok(Some(
        state
            .store
            .assign_with(target_id, ds_id, opts)
            .await?
            .action_id,
    ))
}

impl AssignmentResult {
    /// Summarizes the outcome of [`assign_once`] for each requested target.
    pub(super) fn from_outcomes(outcomes: Vec<Option<i64>>) -> Self {
        let total = outcomes.len();
        let assigned_actions: Vec<ActionRef> = outcomes
            .into_iter()
            .flatten()
            .map(|id| ActionRef { id })
            .collect();
        AssignmentResult {
            assigned: assigned_actions.len(),
            already_assigned: total - assigned_actions.len(),
            total,
            assigned_actions,
        }
    }
}

/// `POST /targets/{id}/assignedDS` with `{"id": <distribution set>, "type": "forced"}`.
async fn assign_ds(
    State(state): State<AppState>,
    Path(controller_id): Path<String>,
    body: Bytes,
) -> Result<Json<AssignmentResult>, ApiError> {
    let req: AssignDsBody = parse_json(&body)?;
    let action_type = parse_action_type(req.action_type.as_deref())?;
    let opts = assign_options(&state, action_type, &req.options)?;
    let t = target_or_404(&state, &controller_id).await?;
    if state.store.distribution_set(req.id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    super::downgrade::check_downgrade(&state, t.target_id, &controller_id, req.id, req.downgrade)
        .await?;
    super::targetfilters::check_hw_compatible(&state, t.target_id, &controller_id, req.id).await?;
    let outcome = assign_once(&state, t.target_id, req.id, &opts).await?;
    Ok(Json(AssignmentResult::from_outcomes(vec![outcome])))
}
