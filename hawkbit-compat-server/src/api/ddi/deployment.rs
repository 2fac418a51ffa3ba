//! deploymentBase, installedBase and deployment feedback.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use ota_ddi::{
    paths, ActionFeedback, ActionHistory, Artifact, ArtifactLinks, Chunk, ChunkMetadata,
    Deployment, DeploymentBase, HandlingType, Hashes, Link, MaintenanceWindow,
};
use serde::Deserialize;

use super::{ddi_id, DdiTarget};
use crate::api::{base_url, parse_json, ApiError, AppState};
use crate::lifecycle;
use crate::schedule::WindowState;
use crate::store::{self, now_ms, Action, ActionState, ActionType, HistoryStatus, NewStatusEntry};

/// Most status entries kept per action (hawkBit's default quota). Reports that would close the
/// action are accepted beyond it, so a device can always finish.
pub(super) const MAX_STATUS_ENTRIES: i64 = 1000;
/// Most messages kept from one report, and longest message (swupdate sends its whole log).
pub(super) const MAX_MESSAGES: usize = 100;
const MAX_MESSAGE_LEN: usize = 1024;

#[derive(Debug, Deserialize)]
pub(super) struct DeploymentQuery {
    /// Number of history entries to include; negative or 100+ means 100.
    #[serde(rename = "actionHistory")]
    pub(super) action_history: Option<i64>,
}

/// `GET .../deploymentBase/{actionId}`: the open action, unless it is being canceled (then the
/// device must follow `cancelAction`, so this is 404 as in hawkBit).
pub(super) async fn deployment_base(
    State(state): State<AppState>,
    ddi: DdiTarget,
    Query(q): Query<DeploymentQuery>,
    headers: HeaderMap,
) -> Result<Json<DeploymentBase>, ApiError> {
    let action = ddi.own_action(&state).await?;
    if action.state != ActionState::Running {
        return Err(ApiError::NotFound);
    }
    if !state
        .store
        .action_has_status(action.action_id, HistoryStatus::Retrieved)
        .await?
    {
        let entry = NewStatusEntry {
            status: HistoryStatus::Retrieved,
            code: None,
            messages: vec!["Update Server: target retrieved update action".into()],
            occurred_at: now_ms(),
        };
        match state
            .store
            .record_action_status(action.action_id, None, &entry)
            .await
        {
            // Closed concurrently: the answer below is still what the device asked for.
            Ok(_) | Err(store::Error::InvalidState(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let body = build(
        &state,
        &ddi,
        &action,
        q.action_history,
        &base_url(&state.config, &headers),
    )
    .await?;
    Ok(Json(body))
}

/// `GET .../installedBase/{actionId}`: the same shape for an action that finished successfully
/// (404 while it is open, or if it failed or was canceled).
pub(super) async fn installed_base(
    State(state): State<AppState>,
    ddi: DdiTarget,
    Query(q): Query<DeploymentQuery>,
    headers: HeaderMap,
) -> Result<Json<DeploymentBase>, ApiError> {
    Ok(Json(
        describe_in_state(&state, &ddi, ActionState::Finished, &q, &headers).await?,
    ))
}

/// The device's action addressed by the path, described as a deployment, if it is in state
/// `wanted` (else 404, as for an action that does not exist).
pub(super) async fn describe_in_state(
    state: &AppState,
    ddi: &DdiTarget,
    wanted: ActionState,
    q: &DeploymentQuery,
    headers: &HeaderMap,
) -> Result<DeploymentBase, ApiError> {
    let action = ddi.own_action(state).await?;
    if action.state != wanted {
        return Err(ApiError::NotFound);
    }
    build(
        state,
        ddi,
        &action,
        q.action_history,
        &base_url(&state.config, headers),
    )
    .await
}

fn handling(action_type: ActionType) -> (HandlingType, HandlingType) {
    match action_type {
        ActionType::Forced => (HandlingType::Forced, HandlingType::Forced),
        ActionType::Soft => (HandlingType::Attempt, HandlingType::Attempt),
        ActionType::DownloadOnly => (HandlingType::Forced, HandlingType::Skip),
        // Resolved by `Action::effective_type` before this is called.
        ActionType::TimeForced => (HandlingType::Forced, HandlingType::Forced),
    }
}

/// Legacy chunk `part` names hawkBit still sends for two module types.
fn part_name(module_type: &str) -> String {
    match module_type {
        "application" => "bApp".into(),
        "runtime" => "jvm".into(),
        other => other.into(),
    }
}

/// Artifact description with download links on this server. Both the HTTP and the HTTPS link
/// names are understood by clients; the scheme of the base URL decides which pair is sent.
pub(super) fn wire_artifact(
    a: &store::Artifact,
    base: &str,
    tenant: &str,
    controller_id: &str,
) -> Artifact {
    let module = u64::try_from(a.software_module_id).unwrap_or_default();
    let download = Some(Link::new(format!(
        "{base}{}",
        paths::artifact(tenant, controller_id, module, &a.filename)
    )));
    let md5sum = Some(Link::new(format!(
        "{base}{}",
        paths::artifact_md5sum(tenant, controller_id, module, &a.filename)
    )));
    let links = if base.starts_with("https://") {
        ArtifactLinks {
            download,
            md5sum,
            ..Default::default()
        }
    } else {
        ArtifactLinks {
            download_http: download,
            md5sum_http: md5sum,
            ..Default::default()
        }
    };
    Artifact {
        filename: a.filename.clone(),
        hashes: Hashes {
            sha1: a.sha1.clone(),
            md5: a.md5.clone(),
            sha256: Some(a.sha256.clone()),
        },
        size: a.size,
        links,
    }
}

pub(super) async fn build(
    state: &AppState,
    ddi: &DdiTarget,
    action: &Action,
    history: Option<i64>,
    base: &str,
) -> Result<DeploymentBase, ApiError> {
    let mut chunks = Vec::new();
    for m in state
        .store
        .modules_of_distribution_set(action.distribution_set_id)
        .await?
    {
        let artifacts = state
            .store
            .artifacts_of_module(m.software_module_id)
            .await?
            .iter()
            .map(|a| wire_artifact(a, base, &ddi.tenant, ddi.controller_id()))
            .collect();
        let metadata: Vec<ChunkMetadata> = state
            .store
            .module_metadata(m.software_module_id, true)
            .await?
            .into_iter()
            .map(|e| ChunkMetadata {
                key: e.key,
                value: e.value,
            })
            .collect();
        chunks.push(Chunk {
            part: part_name(&m.module_type),
            version: m.version,
            name: m.name,
            encrypted: None,
            metadata: (!metadata.is_empty()).then_some(metadata),
            artifacts,
        });
    }
    let action_history = match history {
        None | Some(0) => None,
        Some(n) => {
            let n = if !(1..100).contains(&n) { 100 } else { n };
            let entries = state.store.action_history(action.action_id, n).await?;
            Some(ActionHistory {
                status: action.state.as_str().to_ascii_uppercase(),
                messages: entries.into_iter().flat_map(|e| e.messages).collect(),
            })
        }
    };
    let now = now_ms();
    let (download, mut update) = handling(action.effective_type(now));
    // With a maintenance window, install only while it is open (download any time).
    let maintenance_window = action.maintenance_state(now).map(|w| match w {
        WindowState::Available { .. } => MaintenanceWindow::Available,
        WindowState::Unavailable { .. } | WindowState::Lapsed => {
            update = HandlingType::Skip;
            MaintenanceWindow::Unavailable
        }
    });
    Ok(DeploymentBase {
        id: ddi_id(action.action_id),
        deployment: Deployment {
            download,
            update,
            maintenance_window,
            chunks,
        },
        action_history,
    })
}

/// Turns a report into a history entry (details capped, default message when empty).
pub(super) fn status_entry(fb: &ActionFeedback, history: HistoryStatus) -> NewStatusEntry {
    let mut messages: Vec<String> = fb
        .status
        .details
        .iter()
        .take(MAX_MESSAGES)
        .map(|m| {
            let mut m = m.clone();
            if m.len() > MAX_MESSAGE_LEN {
                let mut cut = MAX_MESSAGE_LEN;
                while !m.is_char_boundary(cut) {
                    cut -= 1;
                }
                m.truncate(cut);
            }
            m
        })
        .filter(|m| !m.is_empty())
        .collect();
    if messages.is_empty() {
        messages.push(lifecycle::default_message(&fb.status));
    }
    NewStatusEntry {
        status: history,
        code: fb.status.code,
        messages,
        occurred_at: now_ms(),
    }
}

/// Applies a report to an open action: 404 for another device's or an unknown action, 410 once
/// the action is closed, 409 when the history quota is used up (unless the report closes it).
pub(super) async fn apply_feedback(
    state: &AppState,
    action: &Action,
    fb: &ActionFeedback,
    transition: lifecycle::Transition,
) -> Result<(), ApiError> {
    if transition.new_state.is_none()
        && state.store.action_status_count(action.action_id).await? >= MAX_STATUS_ENTRIES
    {
        return Err(ApiError::Conflict(
            "status entry quota of the action exceeded".into(),
        ));
    }
    let entry = status_entry(fb, transition.history);
    super::closed_meanwhile(
        state
            .store
            .record_action_status(action.action_id, transition.new_state, &entry)
            .await,
    )
}

/// `POST .../deploymentBase/{actionId}/feedback`
pub(super) async fn deployment_feedback(
    State(state): State<AppState>,
    ddi: DdiTarget,
    body: Bytes,
) -> Result<(), ApiError> {
    let action = ddi.own_open_action(&state).await?;
    if action.state == ActionState::WaitForConfirmation {
        // Not offered yet: the device must confirm it first (as in hawkBit).
        return Err(ApiError::NotFound);
    }
    let fb: ActionFeedback = parse_json(&body)?;
    let transition = lifecycle::deployment_feedback(&action, &fb.status);
    apply_feedback(&state, &action, &fb, transition).await
}
