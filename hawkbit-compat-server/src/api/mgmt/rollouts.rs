//! `/rest/v1/rollouts`: hawkBit's rollout resource. Requests and responses use hawkBit's
//! field names; states are shown upper case as hawkBit does (`RUNNING`, `PAUSED`, ...).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use super::targetfilters::parse_query;
use super::targets::parse_action_type;
use super::{check_name, Operator, PagedList, Paging};
use crate::api::{parse_json, ApiError, AppState};
use crate::rollout::{self, Command, CommandError};
use crate::store::{
    self, now_ms, ActionType, ErrorAction, GroupTarget, NewRollout, NewRolloutGroup, Rollout,
    RolloutGroup, StatusCounts, SuccessAction,
};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/rollouts", get(list).post(create))
        .route("/rollouts/{id}", get(show).delete(remove))
        .route("/rollouts/{id}/start", post(start))
        .route("/rollouts/{id}/pause", post(pause))
        .route("/rollouts/{id}/resume", post(resume))
        .route("/rollouts/{id}/stop", post(stop))
        .route("/rollouts/{id}/approve", post(approve))
        .route("/rollouts/{id}/deny", post(deny))
        .route("/rollouts/{id}/triggerNextGroup", post(trigger_next_group))
        .route("/rollouts/{id}/deploygroups", get(groups))
        .route("/rollouts/{id}/deploygroups/{group_id}", get(group))
        .route(
            "/rollouts/{id}/deploygroups/{group_id}/targets",
            get(group_targets),
        )
}

/// Most groups a rollout may have (hawkBit's default quota).
const MAX_GROUPS: usize = 500;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
struct Condition {
    #[serde(default = "threshold")]
    condition: String,
    expression: String,
}

fn threshold() -> String {
    "THRESHOLD".into()
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
struct ActionSpec {
    action: String,
    #[serde(default)]
    expression: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupInput {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    target_filter_query: String,
    #[serde(default = "hundred")]
    target_percentage: f64,
    success_condition: Option<Condition>,
    success_action: Option<ActionSpec>,
    error_condition: Option<Condition>,
    error_action: Option<ActionSpec>,
}

fn hundred() -> f64 {
    100.0
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RolloutInput {
    name: String,
    #[serde(default)]
    description: String,
    target_filter_query: String,
    distribution_set_id: i64,
    amount_groups: Option<usize>,
    groups: Option<Vec<GroupInput>>,
    success_condition: Option<Condition>,
    success_action: Option<ActionSpec>,
    error_condition: Option<Condition>,
    error_action: Option<ActionSpec>,
    #[serde(rename = "type")]
    action_type: Option<String>,
    forcetime: Option<i64>,
    start_at: Option<i64>,
}

fn parse_threshold(field: &str, c: &Condition) -> Result<i64, ApiError> {
    if !c.condition.eq_ignore_ascii_case("THRESHOLD") {
        return Err(ApiError::BadRequest(format!(
            "{field}.condition must be THRESHOLD"
        )));
    }
    match c.expression.trim().parse::<i64>() {
        Ok(v) if (0..=100).contains(&v) => Ok(v),
        _ => Err(ApiError::BadRequest(format!(
            "{field}.expression must be a percentage from 0 to 100"
        ))),
    }
}

fn parse_success_action(a: Option<&ActionSpec>) -> Result<SuccessAction, ApiError> {
    match a {
        None => Ok(SuccessAction::NextGroup),
        Some(a) => a.action.parse().map_err(|()| {
            ApiError::BadRequest("successAction.action must be NEXTGROUP or PAUSE".into())
        }),
    }
}

fn parse_error_action(a: Option<&ActionSpec>) -> Result<ErrorAction, ApiError> {
    match a {
        None => Ok(ErrorAction::Pause),
        Some(a) => a
            .action
            .parse()
            .map_err(|()| ApiError::BadRequest("errorAction.action must be PAUSE".into())),
    }
}

/// Conditions and actions of one group: its own, else the rollout's, else hawkBit's defaults
/// (success at 100 % → next group; no error condition).
struct Policy {
    success_threshold: i64,
    success_action: SuccessAction,
    error_threshold: Option<i64>,
    error_action: ErrorAction,
}

fn policy(own: Option<&GroupInput>, rollout: &RolloutInput) -> Result<Policy, ApiError> {
    let pick = |g: Option<&Condition>, r: Option<&Condition>| g.or(r).cloned();
    let success = pick(
        own.and_then(|g| g.success_condition.as_ref()),
        rollout.success_condition.as_ref(),
    );
    let error = pick(
        own.and_then(|g| g.error_condition.as_ref()),
        rollout.error_condition.as_ref(),
    );
    Ok(Policy {
        success_threshold: success
            .map(|c| parse_threshold("successCondition", &c))
            .transpose()?
            .unwrap_or(100),
        success_action: parse_success_action(
            own.and_then(|g| g.success_action.as_ref())
                .or(rollout.success_action.as_ref()),
        )?,
        error_threshold: error
            .map(|c| parse_threshold("errorCondition", &c))
            .transpose()?,
        error_action: parse_error_action(
            own.and_then(|g| g.error_action.as_ref())
                .or(rollout.error_action.as_ref()),
        )?,
    })
}

fn new_group(
    name: String,
    description: String,
    query: String,
    pct: f64,
    p: Policy,
) -> NewRolloutGroup {
    NewRolloutGroup {
        name,
        description,
        target_filter_query: query,
        target_percentage: pct,
        success_threshold: p.success_threshold,
        success_action: p.success_action,
        error_threshold: p.error_threshold,
        error_action: p.error_action,
    }
}

/// `totalTargetsPerStatus`, hawkBit's keys plus `notcompatible`.
#[derive(Debug, Serialize)]
struct PerStatus {
    notstarted: i64,
    scheduled: i64,
    running: i64,
    finished: i64,
    error: i64,
    cancelled: i64,
    notcompatible: i64,
}

impl From<StatusCounts> for PerStatus {
    fn from(c: StatusCounts) -> Self {
        PerStatus {
            notstarted: c.notstarted,
            scheduled: c.scheduled,
            running: c.running,
            finished: c.finished,
            error: c.error,
            cancelled: c.cancelled,
            notcompatible: c.notcompatible,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RolloutBody {
    id: i64,
    name: String,
    description: String,
    target_filter_query: String,
    distribution_set_id: i64,
    status: String,
    #[serde(rename = "type")]
    action_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    forcetime: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_at: Option<i64>,
    total_targets: i64,
    total_groups: usize,
    total_targets_per_status: PerStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval_remark: Option<String>,
    deleted: bool,
    created_by: String,
    created_at: i64,
    last_modified_at: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupBody {
    id: i64,
    name: String,
    description: String,
    status: String,
    target_filter_query: String,
    target_percentage: f64,
    success_condition: Condition,
    success_action: ActionSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_condition: Option<Condition>,
    error_action: ActionSpec,
    total_targets: i64,
    total_targets_per_status: PerStatus,
}

fn group_body(g: RolloutGroup, counts: StatusCounts) -> GroupBody {
    GroupBody {
        id: g.rollout_group_id,
        name: g.name,
        description: g.description,
        status: g.status.as_str().to_ascii_uppercase(),
        target_filter_query: g.target_filter_query,
        target_percentage: g.target_percentage,
        success_condition: Condition {
            condition: threshold(),
            expression: g.success_threshold.to_string(),
        },
        success_action: ActionSpec {
            action: g.success_action.as_str().to_ascii_uppercase(),
            expression: String::new(),
        },
        error_condition: g.error_threshold.map(|t| Condition {
            condition: threshold(),
            expression: t.to_string(),
        }),
        error_action: ActionSpec {
            action: g.error_action.as_str().to_ascii_uppercase(),
            expression: String::new(),
        },
        total_targets: g.total_targets,
        total_targets_per_status: counts.into(),
    }
}

async fn rollout_body(state: &AppState, r: Rollout) -> Result<RolloutBody, ApiError> {
    let groups = state.store.rollout_groups(r.rollout_id).await?;
    let mut counts = StatusCounts::default();
    for g in &groups {
        counts.add(&state.store.rollout_group_counts(g).await?);
    }
    Ok(RolloutBody {
        id: r.rollout_id,
        name: r.name,
        description: r.description,
        target_filter_query: r.target_filter_query,
        distribution_set_id: r.distribution_set_id,
        status: r.status.as_str().to_ascii_uppercase(),
        action_type: r.action_type.as_str(),
        forcetime: r.forced_time,
        start_at: r.start_at,
        total_targets: r.total_targets,
        total_groups: groups.len(),
        total_targets_per_status: counts.into(),
        approval_remark: r.approval_remark,
        deleted: r.status == store::RolloutStatus::Deleted,
        created_by: r.created_by,
        created_at: r.created_at,
        last_modified_at: r.updated_at,
    })
}

async fn rollout_or_404(state: &AppState, id: i64) -> Result<Rollout, ApiError> {
    match state.store.rollout(id).await? {
        Some(r) if r.status != store::RolloutStatus::Deleted => Ok(r),
        _ => Err(ApiError::NotFound),
    }
}

/// `POST /rollouts`. The rollout is created and its groups filled at once (the response shows
/// `READY`, or `WAITING_FOR_APPROVAL` when approval is enabled).
async fn create(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    body: Bytes,
) -> Result<(StatusCode, Json<RolloutBody>), ApiError> {
    let req: RolloutInput = parse_json(&body)?;
    check_name("name", &req.name, 128)?;
    parse_query(&req.target_filter_query)?;
    let action_type = parse_action_type(req.action_type.as_deref())?;
    if action_type == ActionType::TimeForced && req.forcetime.is_none() {
        return Err(ApiError::BadRequest(
            "type timeforced needs forcetime (ms since the epoch)".into(),
        ));
    }
    let groups = match (&req.groups, req.amount_groups) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give either amountGroups or groups, not both".into(),
            ))
        }
        (None, None) => {
            return Err(ApiError::BadRequest(
                "amountGroups or groups is required".into(),
            ))
        }
        (None, Some(n)) if n == 0 || n > MAX_GROUPS => {
            return Err(ApiError::BadRequest(format!(
                "amountGroups must be 1 to {MAX_GROUPS}"
            )))
        }
        (None, Some(n)) => {
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                // Each group takes an equal share of what the groups before it left.
                #[allow(clippy::cast_precision_loss)]
                let pct = 100.0 / (n - i) as f64;
                out.push(new_group(
                    format!("group-{}", i + 1),
                    String::new(),
                    String::new(),
                    pct,
                    policy(None, &req)?,
                ));
            }
            out
        }
        (Some(gs), None) => {
            if gs.is_empty() || gs.len() > MAX_GROUPS {
                return Err(ApiError::BadRequest(format!(
                    "groups must have 1 to {MAX_GROUPS} entries"
                )));
            }
            let mut out = Vec::with_capacity(gs.len());
            for g in gs {
                check_name("groups[].name", &g.name, 128)?;
                if !g.target_filter_query.trim().is_empty() {
                    parse_query(&g.target_filter_query)?;
                }
                if !(g.target_percentage > 0.0 && g.target_percentage <= 100.0) {
                    return Err(ApiError::BadRequest(
                        "groups[].targetPercentage must be above 0 and at most 100".into(),
                    ));
                }
                out.push(new_group(
                    g.name.clone(),
                    g.description.clone(),
                    g.target_filter_query.clone(),
                    g.target_percentage,
                    policy(Some(g), &req)?,
                ));
            }
            out
        }
    };
    if state
        .store
        .distribution_set(req.distribution_set_id)
        .await?
        .is_none()
    {
        return Err(ApiError::BadRequest(format!(
            "unknown distribution set {}",
            req.distribution_set_id
        )));
    }
    let new = NewRollout {
        name: req.name.clone(),
        description: req.description.clone(),
        target_filter_query: req.target_filter_query.clone(),
        distribution_set_id: req.distribution_set_id,
        action_type,
        forced_time: req.forcetime,
        start_at: req.start_at,
        approval_required: state.config.rollout_approval,
        created_by: op.username.clone(),
        groups,
    };
    let now = now_ms();
    let created = state
        .store
        .create_rollout(&new, now)
        .await
        .map_err(|e| match e {
            store::Error::Conflict => {
                ApiError::Conflict(format!("rollout {} already exists", new.name))
            }
            other => other.into(),
        })?;
    // Fill the groups now rather than on the next timer tick, so the answer shows the totals.
    rollout::tick(&state.store, now).await?;
    let r = rollout_or_404(&state, created.rollout_id).await?;
    tracing::info!(
        rollout = r.rollout_id,
        targets = r.total_targets,
        "rollout created"
    );
    Ok((StatusCode::CREATED, Json(rollout_body(&state, r).await?)))
}

async fn list(
    State(state): State<AppState>,
    Query(p): Query<Paging>,
) -> Result<Json<PagedList<RolloutBody>>, ApiError> {
    let (rollouts, total) = state.store.list_rollouts(p.offset, p.limit).await?;
    let mut out = Vec::with_capacity(rollouts.len());
    for r in rollouts {
        out.push(rollout_body(&state, r).await?);
    }
    Ok(Json(PagedList::new(out, total)))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<RolloutBody>, ApiError> {
    let r = rollout_or_404(&state, id).await?;
    Ok(Json(rollout_body(&state, r).await?))
}

fn command_error(e: CommandError) -> ApiError {
    match e {
        CommandError::NotFound => ApiError::NotFound,
        CommandError::InvalidState(m) => ApiError::BadRequest(m),
        CommandError::Store(e) => e.into(),
    }
}

async fn run_command(
    state: &AppState,
    id: i64,
    cmd: Command,
    remark: Option<&str>,
) -> Result<StatusCode, ApiError> {
    rollout_or_404(state, id).await?;
    rollout::command(&state.store, id, cmd, remark, now_ms())
        .await
        .map_err(command_error)?;
    tracing::info!(rollout = id, command = ?cmd, "rollout command");
    Ok(StatusCode::OK)
}

async fn start(State(state): State<AppState>, Path(id): Path<i64>) -> Result<StatusCode, ApiError> {
    let status = run_command(&state, id, Command::Start, None).await?;
    // Start the first group now rather than on the next timer tick.
    rollout::tick(&state.store, now_ms()).await?;
    Ok(status)
}

async fn pause(State(state): State<AppState>, Path(id): Path<i64>) -> Result<StatusCode, ApiError> {
    run_command(&state, id, Command::Pause, None).await
}

async fn resume(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    run_command(&state, id, Command::Resume, None).await
}

async fn stop(State(state): State<AppState>, Path(id): Path<i64>) -> Result<StatusCode, ApiError> {
    run_command(&state, id, Command::Stop, None).await
}

#[derive(Debug, Default, Deserialize)]
struct RemarkQuery {
    remark: Option<String>,
}

async fn approve(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<RemarkQuery>,
) -> Result<StatusCode, ApiError> {
    run_command(&state, id, Command::Approve, q.remark.as_deref()).await
}

async fn deny(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<RemarkQuery>,
) -> Result<StatusCode, ApiError> {
    run_command(&state, id, Command::Deny, q.remark.as_deref()).await
}

async fn trigger_next_group(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    run_command(&state, id, Command::TriggerNextGroup, None).await
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    rollout_or_404(&state, id).await?;
    rollout::delete(&state.store, id, now_ms())
        .await
        .map_err(command_error)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn groups(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<PagedList<GroupBody>>, ApiError> {
    rollout_or_404(&state, id).await?;
    let mut out = Vec::new();
    for g in state.store.rollout_groups(id).await? {
        let c = state.store.rollout_group_counts(&g).await?;
        out.push(group_body(g, c));
    }
    let total = i64::try_from(out.len()).unwrap_or(i64::MAX);
    Ok(Json(PagedList::new(out, total)))
}

async fn group_of(state: &AppState, id: i64, group_id: i64) -> Result<RolloutGroup, ApiError> {
    rollout_or_404(state, id).await?;
    state
        .store
        .rollout_groups(id)
        .await?
        .into_iter()
        .find(|g| g.rollout_group_id == group_id)
        .ok_or(ApiError::NotFound)
}

async fn group(
    State(state): State<AppState>,
    Path((id, group_id)): Path<(i64, i64)>,
) -> Result<Json<GroupBody>, ApiError> {
    let g = group_of(&state, id, group_id).await?;
    let c = state.store.rollout_group_counts(&g).await?;
    Ok(Json(group_body(g, c)))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupTargetBody {
    controller_id: String,
    not_compatible: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    action_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action_status: Option<String>,
}

impl From<GroupTarget> for GroupTargetBody {
    fn from(t: GroupTarget) -> Self {
        GroupTargetBody {
            controller_id: t.controller_id,
            not_compatible: t.skipped,
            action_id: t.action_id,
            action_status: t.action_status,
        }
    }
}

async fn group_targets(
    State(state): State<AppState>,
    Path((id, group_id)): Path<(i64, i64)>,
    Query(p): Query<Paging>,
) -> Result<Json<PagedList<GroupTargetBody>>, ApiError> {
    group_of(&state, id, group_id).await?;
    let (items, total) = state
        .store
        .rollout_group_targets(group_id, p.offset, p.limit)
        .await?;
    Ok(Json(PagedList::new(
        items.into_iter().map(Into::into).collect(),
        total,
    )))
}
