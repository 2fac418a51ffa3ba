//! `/rest/v1/softwaremodules`, including artifact upload.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{check_name, PagedList, Paging};
use crate::api::{parse_json, ApiError, AppState};
use crate::artifacts::{self, TempFile};
use crate::store::{self, BundleMeta, ModuleMetadata, NewArtifact, NewSoftwareModule};

/// Largest accepted artifact. Bundles of full root file systems run to a few GiB.
pub const MAX_ARTIFACT_SIZE: u64 = 16 * 1024 * 1024 * 1024;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/softwaremodules", get(list).post(create))
        .route("/softwaremodules/{id}", get(show))
        .route(
            "/softwaremodules/{id}/artifacts",
            // The upload is streamed to disk with its own size limit.
            get(list_artifacts)
                .post(upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/softwaremodules/{id}/metadata",
            get(list_metadata).post(add_metadata),
        )
}

#[derive(Debug, Deserialize)]
struct NewModuleBody {
    name: String,
    version: String,
    #[serde(rename = "type")]
    module_type: String,
    #[serde(default)]
    vendor: String,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ModuleBody {
    id: i64,
    name: String,
    version: String,
    #[serde(rename = "type")]
    module_type: String,
    vendor: String,
    description: String,
    created_at: i64,
}

impl From<store::SoftwareModule> for ModuleBody {
    fn from(m: store::SoftwareModule) -> Self {
        ModuleBody {
            id: m.software_module_id,
            name: m.name,
            version: m.version,
            module_type: m.module_type,
            vendor: m.vendor,
            description: m.description,
            created_at: m.created_at,
        }
    }
}

/// `POST /softwaremodules`
async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Vec<ModuleBody>>), ApiError> {
    let items: Vec<NewModuleBody> = parse_json(&body)?;
    for m in &items {
        check_name("name", &m.name, 128)?;
        check_name("version", &m.version, 64)?;
        check_name("type", &m.module_type, 64)?;
    }
    let mut out = Vec::with_capacity(items.len());
    for m in items {
        let new = NewSoftwareModule {
            name: m.name,
            version: m.version,
            module_type: m.module_type,
            vendor: m.vendor,
            description: m.description,
        };
        out.push(state.store.create_software_module(&new).await?.into());
    }
    Ok((StatusCode::CREATED, Json(out)))
}

async fn list(
    State(state): State<AppState>,
    Query(p): Query<Paging>,
) -> Result<Json<PagedList<ModuleBody>>, ApiError> {
    let (mods, total) = state.store.list_software_modules(p.offset, p.limit).await?;
    Ok(Json(PagedList::new(
        mods.into_iter().map(Into::into).collect(),
        total,
    )))
}

async fn module_or_404(state: &AppState, id: i64) -> Result<store::SoftwareModule, ApiError> {
    state
        .store
        .software_module(id)
        .await?
        .ok_or(ApiError::NotFound)
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<ModuleBody>, ApiError> {
    Ok(Json(module_or_404(&state, id).await?.into()))
}

#[derive(Debug, Serialize)]
struct HashesBody {
    sha1: String,
    md5: String,
    sha256: String,
}

#[derive(Debug, Serialize)]
struct BundleBody {
    compatible: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactBody {
    id: i64,
    provided_filename: String,
    size: u64,
    hashes: HashesBody,
    created_at: i64,
    /// Present for RAUC bundles (all of which were verified on upload).
    #[serde(skip_serializing_if = "Option::is_none")]
    bundle: Option<BundleBody>,
}

impl From<store::Artifact> for ArtifactBody {
    fn from(a: store::Artifact) -> Self {
        ArtifactBody {
            id: a.artifact_id,
            provided_filename: a.filename,
            size: a.size,
            hashes: HashesBody {
                sha1: a.sha1,
                md5: a.md5,
                sha256: a.sha256,
            },
            created_at: a.created_at,
            bundle: a.bundle.map(|b| BundleBody {
                compatible: b.compatible,
                version: b.version,
            }),
        }
    }
}

async fn list_artifacts(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<ArtifactBody>>, ApiError> {
    module_or_404(&state, id).await?;
    Ok(Json(
        state
            .store
            .artifacts_of_module(id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// A file name devices will download: one path segment, printable, bounded.
fn check_filename(name: &str) -> Result<(), ApiError> {
    let bad = name.is_empty()
        || name.len() > 256
        || name == "."
        || name == ".."
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control);
    if bad {
        return Err(ApiError::BadRequest("invalid file name".into()));
    }
    Ok(())
}

/// Fields of the upload form besides the file.
#[derive(Debug, Default)]
struct UploadForm {
    filename: Option<String>,
    md5sum: Option<String>,
    sha1sum: Option<String>,
    sha256sum: Option<String>,
}

/// Checks optional client-supplied checksums against what was received, so a transfer that
/// was corrupted on the way is refused instead of being served to a fleet.
fn check_sums(form: &UploadForm, got: &artifacts::StoredFile) -> Result<(), ApiError> {
    for (name, expected, actual) in [
        ("md5sum", &form.md5sum, &got.md5),
        ("sha1sum", &form.sha1sum, &got.sha1),
        ("sha256sum", &form.sha256sum, &got.sha256),
    ] {
        if let Some(e) = expected {
            if !e.trim().eq_ignore_ascii_case(actual) {
                return Err(ApiError::BadRequest(format!(
                    "{name} does not match the uploaded file"
                )));
            }
        }
    }
    Ok(())
}

/// `POST /softwaremodules/{id}/artifacts`: multipart form with a `file` part and optional
/// `filename`, `md5sum`, `sha1sum`, `sha256sum` fields (hawkBit's names).
///
/// The file is streamed to a temp file while its hashes are computed, fsynced, checked against
/// the given checksums, and only then moved to its content address and recorded. Nothing is
/// buffered in memory and a failed upload leaves nothing behind.
async fn upload(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<ArtifactBody>), ApiError> {
    module_or_404(&state, id).await?;
    let mut form = UploadForm::default();
    let mut file: Option<(TempFile, Option<String>)> = None;
    let bad_form = |e: axum::extract::multipart::MultipartError| {
        ApiError::BadRequest(format!("invalid multipart body: {e}"))
    };
    let result: Result<(), ApiError> = async {
        while let Some(field) = multipart.next_field().await.map_err(bad_form)? {
            let name = field.name().unwrap_or_default().to_owned();
            match name.as_str() {
                "file" => {
                    if file.is_some() {
                        return Err(ApiError::BadRequest("more than one file part".into()));
                    }
                    let part_name = field.file_name().map(str::to_owned);
                    let temp = state
                        .artifacts
                        .write_stream_to_temp(field, MAX_ARTIFACT_SIZE)
                        .await
                        .map_err(|e| match e {
                            artifacts::Error::TooLarge(_) => ApiError::PayloadTooLarge,
                            artifacts::Error::Upload(msg) => {
                                ApiError::BadRequest(format!("upload failed: {msg}"))
                            }
                            other => other.into(),
                        })?;
                    file = Some((temp, part_name));
                }
                "filename" | "md5sum" | "sha1sum" | "sha256sum" => {
                    let value = field.text().await.map_err(bad_form)?;
                    let slot = match name.as_str() {
                        "filename" => &mut form.filename,
                        "md5sum" => &mut form.md5sum,
                        "sha1sum" => &mut form.sha1sum,
                        _ => &mut form.sha256sum,
                    };
                    *slot = Some(value);
                }
                // Unknown parts are skipped, like unknown JSON fields.
                _ => {}
            }
        }
        Ok(())
    }
    .await;
    let Some((temp, part_name)) = file else {
        result?;
        return Err(ApiError::BadRequest("missing file part".into()));
    };
    let checked = result.and_then(|()| {
        let filename = form
            .filename
            .clone()
            .or(part_name)
            .ok_or_else(|| ApiError::BadRequest("missing file name".into()))?;
        check_filename(&filename)?;
        check_sums(&form, temp.stored())?;
        Ok(filename)
    });
    let filename = match checked {
        Ok(f) => f,
        Err(e) => {
            temp.discard().await;
            return Err(e);
        }
    };
    if state.store.artifact_by_name(id, &filename).await?.is_some() {
        temp.discard().await;
        return Err(ApiError::Conflict(format!(
            "module already has a file named {filename}"
        )));
    }
    let bundle = match verify_if_bundle(&state, temp.path().to_owned(), &filename).await {
        Ok(b) => b,
        Err(e) => {
            temp.discard().await;
            return Err(e);
        }
    };
    let stored = state.artifacts.commit(temp).await?;
    let artifact = state
        .store
        .add_artifact(&NewArtifact {
            software_module_id: id,
            filename,
            sha1: stored.sha1,
            md5: stored.md5,
            sha256: stored.sha256,
            size: stored.size,
            bundle,
        })
        .await
        .map_err(|e| match e {
            store::Error::Conflict => {
                ApiError::Conflict("module already has a file of that name".into())
            }
            other => other.into(),
        })?;
    tracing::info!(module = id, file = %artifact.filename, size = artifact.size, "artifact uploaded");
    Ok((StatusCode::CREATED, Json(artifact.into())))
}

/// RAUC bundles are verified before they are stored, so a release can only ever contain
/// bundles whose signature chains to the server's keyring; only verified releases can be
/// assigned to devices.
///
/// A file is treated as a bundle when its name ends in `.raucb` (then it *must* be a valid
/// bundle) or when it has the structure of one whatever its name (so renaming a bundle does not
/// skip the check). Verification checks the CMS signature against the keyring and, for verity
/// bundles, the hash tree against every data block, so a corrupted upload is caught here and not
/// on a device. It runs on a blocking thread: it reads the whole file.
async fn verify_if_bundle(
    state: &AppState,
    path: std::path::PathBuf,
    filename: &str,
) -> Result<Option<BundleMeta>, ApiError> {
    let named_bundle = filename.to_ascii_lowercase().ends_with(".raucb");
    let opts = state.bundle_verify.clone();
    let filename = filename.to_owned();
    tokio::task::spawn_blocking(move || {
        // Messages name the uploaded file, never the server's temp path.
        let reject = |e: ota_bundle::Error| {
            let msg = e
                .to_string()
                .replace(&path.display().to_string(), &filename);
            ApiError::Unprocessable(format!(
                "{filename} is not accepted as a signed RAUC bundle: {msg}"
            ))
        };
        let mut bundle = match ota_bundle::Bundle::open(&path) {
            Ok(b) => b,
            Err(e) if named_bundle => return Err(reject(e)),
            Err(_) => return Ok(None),
        };
        let Some(opts) = opts else {
            return Err(ApiError::Unprocessable(
                "the server has no keyring configured, so it cannot verify RAUC bundles".into(),
            ));
        };
        let info = bundle
            .verify(&opts, false, &mut ota_bundle::NoProgress)
            .map_err(reject)?;
        tracing::info!(
            file = %filename,
            compatible = %info.manifest.update.compatible,
            "RAUC bundle signature verified"
        );
        Ok(Some(BundleMeta {
            compatible: info.manifest.update.compatible,
            version: info.manifest.update.version,
        }))
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("bundle verification panicked: {e}")))?
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataBody {
    key: String,
    value: String,
    #[serde(default)]
    target_visible: bool,
}

async fn list_metadata(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<MetadataBody>>, ApiError> {
    module_or_404(&state, id).await?;
    let entries = state.store.module_metadata(id, false).await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| MetadataBody {
                key: e.key,
                value: e.value,
                target_visible: e.target_visible,
            })
            .collect(),
    ))
}

/// `POST /softwaremodules/{id}/metadata`: entries with `targetVisible: true` are sent to
/// devices in the deployment's chunk metadata.
async fn add_metadata(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<(StatusCode, Json<Vec<MetadataBody>>), ApiError> {
    module_or_404(&state, id).await?;
    let items: Vec<MetadataBody> = parse_json(&body)?;
    for m in &items {
        check_name("key", &m.key, 128)?;
        if m.value.len() > 4000 {
            return Err(ApiError::BadRequest("value longer than 4000 bytes".into()));
        }
    }
    for m in &items {
        let entry = ModuleMetadata {
            key: m.key.clone(),
            value: m.value.clone(),
            target_visible: m.target_visible,
        };
        state.store.set_module_metadata(id, &entry).await?;
    }
    Ok((StatusCode::CREATED, Json(items)))
}
