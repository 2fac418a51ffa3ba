//! `/rest/v1/targettags`, `/rest/v1/targettypes`, `/rest/v1/targetfilters` (with
//! auto-assignment), and the per-target tag, type and group routes.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::targets::parse_action_type;
use super::{check_name, PagedList, Paging};
use crate::api::{parse_json, ApiError, AppState};
use crate::rollout::{self, fiql};
use crate::store::{self, now_ms, TargetFilter, TargetTag, TargetType};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/targettags", get(list_tags).post(create_tags))
        .route("/targettags/{id}", get(show_tag).delete(delete_tag))
        .route(
            "/targettags/{id}/assigned",
            get(tag_assigned).post(tag_assign),
        )
        .route(
            "/targettags/{id}/assigned/{controller_id}",
            axum::routing::delete(tag_unassign),
        )
        .route("/targettypes", get(list_types).post(create_types))
        .route("/targettypes/{id}", get(show_type).delete(delete_type))
        .route("/targets/{controller_id}/tags", get(target_tags))
        .route(
            "/targets/{controller_id}/targettype",
            get(target_type)
                .post(set_target_type)
                .delete(clear_target_type),
        )
        .route(
            "/targets/{controller_id}/group",
            get(target_group).put(set_target_group),
        )
        .route(
            "/distributionsets/{id}/hwRevisions",
            get(show_hw_revisions).put(put_hw_revisions),
        )
        .route(
            "/distributionsets/{id}/variants",
            get(show_variants).put(put_variants),
        )
        .route("/targetfilters", get(list_filters).post(create_filter))
        .route(
            "/targetfilters/{id}",
            get(show_filter).put(update_filter).delete(delete_filter),
        )
        .route(
            "/targetfilters/{id}/autoAssignDS",
            get(show_auto_assign)
                .post(set_auto_assign)
                .delete(clear_auto_assign),
        )
}

/// Parses a query parameter or body field, turning parse errors into a 400 naming the
/// position and what was expected.
pub(crate) fn parse_query(q: &str) -> Result<fiql::Node, ApiError> {
    fiql::parse(q).map_err(|e| ApiError::BadRequest(e.to_string()))
}

async fn target_id(state: &AppState, controller_id: &str) -> Result<i64, ApiError> {
    Ok(state
        .store
        .target_by_controller_id(controller_id)
        .await?
        .ok_or(ApiError::NotFound)?
        .target_id)
}

fn conflict_on_name(what: &'static str, name: String) -> impl FnOnce(store::Error) -> ApiError {
    move |e| match e {
        store::Error::Conflict => ApiError::Conflict(format!("{what} {name} already exists")),
        other => other.into(),
    }
}

// ---- tags --------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct NewTagBody {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    colour: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TagBody {
    id: i64,
    name: String,
    description: String,
    colour: String,
    created_at: i64,
}

impl From<TargetTag> for TagBody {
    fn from(t: TargetTag) -> Self {
        TagBody {
            id: t.target_tag_id,
            name: t.name,
            description: t.description,
            colour: t.colour,
            created_at: t.created_at,
        }
    }
}

/// A short list served whole, as one page.
fn whole<T, B: From<T>>(items: Vec<T>) -> Json<PagedList<B>> {
    let items: Vec<B> = items.into_iter().map(Into::into).collect();
    let total = i64::try_from(items.len()).unwrap_or(i64::MAX);
    Json(PagedList::new(items, total))
}

/// Creates every named item of a `POST` array, after checking all names first (a bad name
/// creates nothing); a taken name is 409 naming it.
async fn create_named<N, T, B, F, Fut>(
    what: &'static str,
    items: Vec<N>,
    name: impl Fn(&N) -> &str,
    create: F,
) -> Result<(StatusCode, Json<Vec<B>>), ApiError>
where
    B: From<T>,
    F: Fn(N) -> Fut,
    Fut: std::future::Future<Output = Result<T, store::Error>>,
{
    for item in &items {
        check_name("name", name(item), 64)?;
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let n = name(&item).to_owned();
        let created = create(item).await.map_err(conflict_on_name(what, n))?;
        out.push(created.into());
    }
    Ok((StatusCode::CREATED, Json(out)))
}

async fn list_tags(State(state): State<AppState>) -> Result<Json<PagedList<TagBody>>, ApiError> {
    Ok(whole(state.store.list_target_tags().await?))
}

/// `POST /targettags` with `[{"name", "description", "colour"}]`.
async fn create_tags(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Vec<TagBody>>), ApiError> {
    let items: Vec<NewTagBody> = parse_json(&body)?;
    let state = &state;
    create_named(
        "tag",
        items,
        |t| &t.name,
        |t| async move {
            state
                .store
                .create_target_tag(&t.name, &t.description, &t.colour)
                .await
        },
    )
    .await
}

async fn show_tag(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<TagBody>, ApiError> {
    Ok(Json(
        state
            .store
            .target_tag(id)
            .await?
            .ok_or(ApiError::NotFound)?
            .into(),
    ))
}

async fn delete_tag(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_target_tag(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ControllerRef {
    controller_id: String,
}

async fn tag_assigned(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<PagedList<ControllerRef>>, ApiError> {
    state
        .store
        .target_tag(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let ids: Vec<ControllerRef> = state
        .store
        .tagged_targets(id)
        .await?
        .into_iter()
        .map(|controller_id| ControllerRef { controller_id })
        .collect();
    let total = i64::try_from(ids.len()).unwrap_or(i64::MAX);
    Ok(Json(PagedList::new(ids, total)))
}

/// Either `"ctrl-1"` (hawkBit ≥ 0.5) or `{"controllerId": "ctrl-1"}` (older clients).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ControllerIdItem {
    Plain(String),
    Object {
        #[serde(rename = "controllerId")]
        controller_id: String,
    },
}

impl ControllerIdItem {
    fn id(&self) -> &str {
        match self {
            ControllerIdItem::Plain(s) | ControllerIdItem::Object { controller_id: s } => s,
        }
    }
}

/// `POST /targettags/{id}/assigned`: tags every listed target; all must exist.
async fn tag_assign(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<PagedList<ControllerRef>>, ApiError> {
    let items: Vec<ControllerIdItem> = parse_json(&body)?;
    state
        .store
        .target_tag(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut targets = Vec::with_capacity(items.len());
    for item in &items {
        let t = state
            .store
            .target_by_controller_id(item.id())
            .await?
            .ok_or_else(|| ApiError::BadRequest(format!("unknown target {}", item.id())))?;
        targets.push(t);
    }
    for t in &targets {
        state.store.tag_target(id, t.target_id).await?;
        rollout::auto_assign_target(&state.store, t.target_id, now_ms()).await?;
    }
    let out: Vec<ControllerRef> = targets
        .into_iter()
        .map(|t| ControllerRef {
            controller_id: t.controller_id,
        })
        .collect();
    let total = i64::try_from(out.len()).unwrap_or(i64::MAX);
    Ok(Json(PagedList::new(out, total)))
}

async fn tag_unassign(
    State(state): State<AppState>,
    Path((id, controller_id)): Path<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    let t = target_id(&state, &controller_id).await?;
    if state.store.untag_target(id, t).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

async fn target_tags(
    State(state): State<AppState>,
    Path(controller_id): Path<String>,
) -> Result<Json<Vec<TagBody>>, ApiError> {
    let t = target_id(&state, &controller_id).await?;
    Ok(Json(
        state
            .store
            .tags_of_target(t)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

// ---- target types and groups ---------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct NewTypeBody {
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TypeBody {
    id: i64,
    name: String,
    description: String,
    created_at: i64,
}

impl From<TargetType> for TypeBody {
    fn from(t: TargetType) -> Self {
        TypeBody {
            id: t.target_type_id,
            name: t.name,
            description: t.description,
            created_at: t.created_at,
        }
    }
}

async fn list_types(State(state): State<AppState>) -> Result<Json<PagedList<TypeBody>>, ApiError> {
    Ok(whole(state.store.list_target_types().await?))
}

/// `POST /targettypes` with `[{"name", "description"}]`.
async fn create_types(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Vec<TypeBody>>), ApiError> {
    let items: Vec<NewTypeBody> = parse_json(&body)?;
    let state = &state;
    create_named(
        "target type",
        items,
        |t| &t.name,
        |t| async move {
            state
                .store
                .create_target_type(&t.name, &t.description)
                .await
        },
    )
    .await
}

async fn show_type(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<TypeBody>, ApiError> {
    Ok(Json(
        state
            .store
            .target_type(id)
            .await?
            .ok_or(ApiError::NotFound)?
            .into(),
    ))
}

async fn delete_type(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_target_type(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

async fn target_type(
    State(state): State<AppState>,
    Path(controller_id): Path<String>,
) -> Result<Json<TypeBody>, ApiError> {
    let t = target_id(&state, &controller_id).await?;
    let (ty, _) = state.store.target_type_and_group(t).await?;
    Ok(Json(ty.ok_or(ApiError::NotFound)?.into()))
}

#[derive(Debug, Deserialize)]
struct IdBody {
    id: i64,
}

/// `POST /targets/{id}/targettype` with `{"id": N}`.
async fn set_target_type(
    State(state): State<AppState>,
    Path(controller_id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: IdBody = parse_json(&body)?;
    let t = target_id(&state, &controller_id).await?;
    state
        .store
        .target_type(req.id)
        .await?
        .ok_or_else(|| ApiError::BadRequest(format!("unknown target type {}", req.id)))?;
    state.store.set_target_type(t, Some(req.id)).await?;
    rollout::auto_assign_target(&state.store, t, now_ms()).await?;
    Ok(StatusCode::OK)
}

async fn clear_target_type(
    State(state): State<AppState>,
    Path(controller_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let t = target_id(&state, &controller_id).await?;
    state.store.set_target_type(t, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize)]
struct GroupBody {
    group: Option<String>,
}

async fn target_group(
    State(state): State<AppState>,
    Path(controller_id): Path<String>,
) -> Result<Json<GroupBody>, ApiError> {
    let t = target_id(&state, &controller_id).await?;
    let (_, group) = state.store.target_type_and_group(t).await?;
    Ok(Json(GroupBody { group }))
}

/// `PUT /targets/{id}/group` with `{"group": "line-1"}` (or `null` to clear).
async fn set_target_group(
    State(state): State<AppState>,
    Path(controller_id): Path<String>,
    body: Bytes,
) -> Result<Json<GroupBody>, ApiError> {
    let req: GroupBody = parse_json(&body)?;
    if let Some(g) = &req.group {
        check_name("group", g, 256)?;
    }
    let t = target_id(&state, &controller_id).await?;
    state
        .store
        .set_target_group(t, req.group.as_deref())
        .await?;
    rollout::auto_assign_target(&state.store, t, now_ms()).await?;
    Ok(Json(req))
}

// ---- saved filters ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct FilterInput {
    name: Option<String>,
    query: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FilterBody {
    id: i64,
    name: String,
    query: String,
    auto_assign_distribution_set: Option<i64>,
    auto_assign_action_type: Option<&'static str>,
    created_at: i64,
    last_modified_at: i64,
}

impl From<TargetFilter> for FilterBody {
    fn from(f: TargetFilter) -> Self {
        FilterBody {
            id: f.target_filter_id,
            name: f.name,
            query: f.query,
            auto_assign_distribution_set: f.auto_assign_ds_id,
            auto_assign_action_type: f.auto_assign_action_type.map(store::ActionType::as_str),
            created_at: f.created_at,
            last_modified_at: f.updated_at,
        }
    }
}

async fn filter_or_404(state: &AppState, id: i64) -> Result<TargetFilter, ApiError> {
    state
        .store
        .target_filter(id)
        .await?
        .ok_or(ApiError::NotFound)
}

async fn list_filters(
    State(state): State<AppState>,
    Query(p): Query<Paging>,
) -> Result<Json<PagedList<FilterBody>>, ApiError> {
    let (filters, total) = state.store.list_target_filters(p.offset, p.limit).await?;
    Ok(Json(PagedList::new(
        filters.into_iter().map(Into::into).collect(),
        total,
    )))
}

/// `POST /targetfilters` with `{"name", "query"}`.
async fn create_filter(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<FilterBody>), ApiError> {
    let req: FilterInput = parse_json(&body)?;
    let (Some(name), Some(query)) = (req.name, req.query) else {
        return Err(ApiError::BadRequest("name and query are required".into()));
    };
    check_name("name", &name, 128)?;
    parse_query(&query)?;
    let f = state
        .store
        .create_target_filter(&name, &query)
        .await
        .map_err(conflict_on_name("target filter", name.clone()))?;
    Ok((StatusCode::CREATED, Json(f.into())))
}

async fn show_filter(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<FilterBody>, ApiError> {
    Ok(Json(filter_or_404(&state, id).await?.into()))
}

/// `PUT /targetfilters/{id}` with `{"name"?, "query"?}`.
async fn update_filter(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<FilterBody>, ApiError> {
    let req: FilterInput = parse_json(&body)?;
    let old = filter_or_404(&state, id).await?;
    let name = req.name.unwrap_or(old.name);
    let query = req.query.unwrap_or(old.query);
    check_name("name", &name, 128)?;
    parse_query(&query)?;
    let f = state
        .store
        .update_target_filter(id, &name, &query)
        .await
        .map_err(conflict_on_name("target filter", name.clone()))?;
    Ok(Json(f.into()))
}

async fn delete_filter(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_target_filter(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AutoAssignBody {
    id: i64,
    #[serde(rename = "type")]
    action_type: &'static str,
}

async fn show_auto_assign(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<AutoAssignBody>, ApiError> {
    let f = filter_or_404(&state, id).await?;
    match (f.auto_assign_ds_id, f.auto_assign_action_type) {
        (Some(ds), Some(t)) => Ok(Json(AutoAssignBody {
            id: ds,
            action_type: t.as_str(),
        })),
        _ => Err(ApiError::NotFound),
    }
}

#[derive(Debug, Deserialize)]
struct AutoAssignInput {
    id: i64,
    #[serde(rename = "type")]
    action_type: Option<String>,
}

/// `POST /targetfilters/{id}/autoAssignDS` with `{"id": <ds>, "type": "forced"}`: every
/// matching target gets the set now (the response counts them) and every target that matches
/// later gets it when it registers, reports attributes, or on the next engine tick.
async fn set_auto_assign(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<FilterBody>, ApiError> {
    let req: AutoAssignInput = parse_json(&body)?;
    let action_type = parse_action_type(req.action_type.as_deref())?;
    filter_or_404(&state, id).await?;
    state
        .store
        .distribution_set(req.id)
        .await?
        .ok_or_else(|| ApiError::BadRequest(format!("unknown distribution set {}", req.id)))?;
    let f = state
        .store
        .set_auto_assign(id, Some((req.id, action_type)))
        .await?;
    let assigned = state.store.auto_assign(id, None, now_ms()).await?;
    tracing::info!(
        filter = id,
        distribution_set = req.id,
        assigned,
        "auto-assignment set"
    );
    Ok(Json(f.into()))
}

async fn clear_auto_assign(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    filter_or_404(&state, id).await?;
    state.store.set_auto_assign(id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Refuses an assignment of distribution set `ds` to a target whose hardware revision or RAUC
/// variant the set does not support (422 with both sides named).
pub(super) async fn check_hw_compatible(
    state: &AppState,
    target_id: i64,
    controller_id: &str,
    ds: i64,
) -> Result<(), ApiError> {
    match state.store.check_compatible(target_id, ds).await? {
        Ok(()) => Ok(()),
        Err(store::Incompatible {
            attribute,
            supported,
            reported,
        }) => {
            let what = if attribute == "variant" {
                "RAUC variants"
            } else {
                "hardware revisions"
            };
            Err(ApiError::Unprocessable(format!(
                "distribution set {ds} supports {what} [{}]; target {controller_id} {}",
                supported.join(", "),
                match reported {
                    Some(r) => format!("reports {attribute} {r:?}"),
                    None => format!("has not reported a {attribute} attribute"),
                }
            )))
        }
    }
}

/// Validates a list of hardware revisions or variants (`field` names it in errors).
pub(super) fn check_compat_list(field: &str, values: &[String]) -> Result<(), ApiError> {
    if values.len() > 100 {
        return Err(ApiError::BadRequest(format!(
            "{field}: at most 100 entries"
        )));
    }
    for v in values {
        check_name(&format!("{field}[]"), v, 128)?;
    }
    Ok(())
}

/// `GET /distributionsets/{id}/hwRevisions`: `["rev-a", ...]`, empty when any hardware is fine.
async fn show_hw_revisions(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<String>>, ApiError> {
    ds_or_404(&state, id).await?;
    Ok(Json(state.store.ds_hw_revisions(id).await?))
}

/// `PUT /distributionsets/{id}/hwRevisions` with `["rev-a", "rev-b"]` (or `[]` for any).
async fn put_hw_revisions(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<Vec<String>>, ApiError> {
    let revs: Vec<String> = parse_json(&body)?;
    check_compat_list("hwRevisions", &revs)?;
    ds_or_404(&state, id).await?;
    state.store.set_ds_hw_revisions(id, &revs).await?;
    Ok(Json(state.store.ds_hw_revisions(id).await?))
}

/// `GET /distributionsets/{id}/variants`: `["imx8-b", ...]`, empty when any variant is fine.
async fn show_variants(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<String>>, ApiError> {
    ds_or_404(&state, id).await?;
    Ok(Json(state.store.ds_variants(id).await?))
}

/// `PUT /distributionsets/{id}/variants` with `["imx8-b"]` (or `[]` for any).
async fn put_variants(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<Vec<String>>, ApiError> {
    let variants: Vec<String> = parse_json(&body)?;
    check_compat_list("variants", &variants)?;
    ds_or_404(&state, id).await?;
    state.store.set_ds_variants(id, &variants).await?;
    Ok(Json(state.store.ds_variants(id).await?))
}

async fn ds_or_404(state: &AppState, id: i64) -> Result<(), ApiError> {
    state
        .store
        .distribution_set(id)
        .await?
        .map(|_| ())
        .ok_or(ApiError::NotFound)
}
