//! `/rest/v1/distributionsets`

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::targets::{
    assign_once, assign_options, parse_action_type, AssignOptionsBody, AssignmentResult,
};
use super::{check_name, IdRef, PagedList, Paging};
use crate::api::{parse_json, ApiError, AppState};
use crate::store::{self, NewDistributionSet};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/distributionsets", get(list).post(create))
        .route("/distributionsets/{id}", get(show))
        .route(
            "/distributionsets/{id}/assignedTargets",
            post(assign_targets),
        )
}

#[derive(Debug, Deserialize)]
struct NewDsBody {
    name: String,
    version: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    modules: Vec<IdRef>,
    /// Supported hardware revisions (target attribute `hw_revision`); empty: any.
    #[serde(default, rename = "hwRevisions")]
    hw_revisions: Vec<String>,
    /// Supported RAUC variants (target attribute `variant`); empty: any.
    #[serde(default)]
    variants: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DsBody {
    id: i64,
    name: String,
    version: String,
    description: String,
    modules: Vec<ModuleRef>,
    created_at: i64,
}

#[derive(Debug, Serialize)]
struct ModuleRef {
    id: i64,
}

impl From<store::DistributionSet> for DsBody {
    fn from(d: store::DistributionSet) -> Self {
        DsBody {
            id: d.distribution_set_id,
            name: d.name,
            version: d.version,
            description: d.description,
            modules: d
                .module_ids
                .into_iter()
                .map(|id| ModuleRef { id })
                .collect(),
            created_at: d.created_at,
        }
    }
}

/// `POST /distributionsets` with `[{"name", "version", "modules": [{"id": N}]}]`.
async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Vec<DsBody>>), ApiError> {
    let items: Vec<NewDsBody> = parse_json(&body)?;
    for d in &items {
        check_name("name", &d.name, 128)?;
        check_name("version", &d.version, 64)?;
        super::targetfilters::check_compat_list("hwRevisions", &d.hw_revisions)?;
        super::targetfilters::check_compat_list("variants", &d.variants)?;
    }
    let mut out = Vec::with_capacity(items.len());
    for d in items {
        let (hw_revisions, variants) = (d.hw_revisions, d.variants);
        let new = NewDistributionSet {
            name: d.name,
            version: d.version,
            description: d.description,
            module_ids: d.modules.into_iter().map(|m| m.id).collect(),
        };
        let created = state
            .store
            .create_distribution_set(&new)
            .await
            .map_err(|e| match e {
                store::Error::NotFound(_) => ApiError::BadRequest("unknown software module".into()),
                other => other.into(),
            })?;
        state
            .store
            .set_ds_hw_revisions(created.distribution_set_id, &hw_revisions)
            .await?;
        state
            .store
            .set_ds_variants(created.distribution_set_id, &variants)
            .await?;
        out.push(created.into());
    }
    Ok((StatusCode::CREATED, Json(out)))
}

async fn list(
    State(state): State<AppState>,
    Query(p): Query<Paging>,
) -> Result<Json<PagedList<DsBody>>, ApiError> {
    let (sets, total) = state
        .store
        .list_distribution_sets(p.offset, p.limit)
        .await?;
    Ok(Json(PagedList::new(
        sets.into_iter().map(Into::into).collect(),
        total,
    )))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<DsBody>, ApiError> {
    Ok(Json(
        state
            .store
            .distribution_set(id)
            .await?
            .ok_or(ApiError::NotFound)?
            .into(),
    ))
}

#[derive(Debug, Deserialize)]
struct AssignTargetBody {
    /// Controller id.
    id: String,
    #[serde(rename = "type")]
    action_type: Option<String>,
    /// Allow a bundle older than the target's installed version.
    #[serde(default)]
    downgrade: bool,
    #[serde(flatten)]
    options: AssignOptionsBody,
}

/// `POST /distributionsets/{id}/assignedTargets` with `[{"id": "<controllerId>", "type": "forced"}]`.
/// All targets are checked before anything is assigned, so a typo in one id assigns nothing.
async fn assign_targets(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<AssignmentResult>, ApiError> {
    let items: Vec<AssignTargetBody> = parse_json(&body)?;
    if state.store.distribution_set(id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let mut resolved = Vec::with_capacity(items.len());
    for item in &items {
        let action_type = parse_action_type(item.action_type.as_deref())?;
        let opts = assign_options(&state, action_type, &item.options)?;
        let target = state
            .store
            .target_by_controller_id(&item.id)
            .await?
            .ok_or_else(|| ApiError::BadRequest(format!("unknown target {}", item.id)))?;
        super::downgrade::check_downgrade(&state, target.target_id, &item.id, id, item.downgrade)
            .await?;
        super::targetfilters::check_hw_compatible(&state, target.target_id, &item.id, id).await?;
        resolved.push((target.target_id, opts));
    }
    let mut outcomes = Vec::with_capacity(resolved.len());
    for (target_id, opts) in resolved {
        outcomes.push(assign_once(&state, target_id, id, &opts).await?);
    }
    Ok(Json(AssignmentResult::from_outcomes(outcomes)))
}
