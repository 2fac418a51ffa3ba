//! Artifact listing and download (`GET`/`HEAD`, `Range`, `If-Match`, `If-Range`, `.MD5SUM`).
//!
//! Devices resume interrupted downloads with `Range: bytes=N-`, RAUC's HTTP streaming reads a
//! bundle in many small ranges, and swupdate asks `HEAD` first to learn the size; all of these
//! must work. Download permission follows assignment: a device can fetch a module's files only
//! while the module belongs to one of its open or installed actions.

use std::collections::VecDeque;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use ota_ddi::paths::MD5SUM_SUFFIX;
use ota_ddi::ArtifactList;

use super::deployment::{wire_artifact, MAX_STATUS_ENTRIES};
use super::DdiTarget;
use crate::api::{base_url, httpdate, ApiError, AppState};
use crate::store;

/// Multipart boundary for multi-range answers (the one hawkBit uses).
const BOUNDARY: &str = "THIS_STRING_SEPARATES_MULTIPART";
/// More ranges than this in one request are answered with the whole file instead.
const MAX_RANGES: usize = 32;
/// Read size while streaming a file: one blocking-pool hop per chunk, so not too small; at most
/// about two chunks are held per response, so not too large for a fleet downloading at once.
const CHUNK: u64 = 256 * 1024;

/// The module addressed by `{module_id}`, if this device may see it.
async fn own_module(state: &AppState, ddi: &DdiTarget) -> Result<i64, ApiError> {
    let module = ddi.id_param("module_id")?;
    if !state
        .store
        .module_assigned_to_target(ddi.target.target_id, module)
        .await?
    {
        return Err(ApiError::NotFound);
    }
    Ok(module)
}

/// `GET .../softwaremodules/{id}/artifacts`
pub(super) async fn list_artifacts(
    State(state): State<AppState>,
    ddi: DdiTarget,
    headers: HeaderMap,
) -> Result<Json<ArtifactList>, ApiError> {
    let module = own_module(&state, &ddi).await?;
    let base = base_url(&state.config, &headers);
    let list = state
        .store
        .artifacts_of_module(module)
        .await?
        .iter()
        .map(|a| wire_artifact(a, &base, &ddi.tenant, ddi.controller_id()))
        .collect();
    Ok(Json(list))
}

/// `GET`/`HEAD .../softwaremodules/{id}/artifacts/{fileName}` and `{fileName}.MD5SUM`.
pub(super) async fn download_artifact(
    State(state): State<AppState>,
    ddi: DdiTarget,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let module = own_module(&state, &ddi).await?;
    let filename = ddi.param("filename")?;
    // A real file named `x.MD5SUM` wins over the checksum of `x`.
    if let Some(artifact) = state.store.artifact_by_name(module, filename).await? {
        if method == Method::GET && !headers.contains_key(header::RANGE) {
            note_download(&state, &ddi, module, &artifact.filename).await?;
        }
        return serve_file(&state, &artifact, &method, &headers).await;
    }
    if let Some(stem) = filename.strip_suffix(MD5SUM_SUFFIX) {
        if let Some(artifact) = state.store.artifact_by_name(module, stem).await? {
            return Ok(md5sum_response(&artifact));
        }
    }
    Err(ApiError::NotFound)
}

/// Records "target downloads <file>" in the open action's history, for operators following an
/// update. Only whole-file GETs count: range requests (resumes, RAUC's HTTP streaming with many
/// small ranges) would flood the history, as hawkBit learned (its issue #1249). Past the
/// per-action quota the download is served but not recorded.
async fn note_download(
    state: &AppState,
    ddi: &DdiTarget,
    module: i64,
    filename: &str,
) -> Result<(), ApiError> {
    let Some(action_id) = state
        .store
        .active_action_with_module(ddi.target.target_id, module)
        .await?
    else {
        return Ok(());
    };
    if state.store.action_status_count(action_id).await? >= MAX_STATUS_ENTRIES {
        return Ok(());
    }
    let entry = store::NewStatusEntry {
        status: store::HistoryStatus::Download,
        code: None,
        messages: vec![format!("Update Server: target downloads {filename}")],
        occurred_at: store::now_ms(),
    };
    match state
        .store
        .record_action_status(action_id, None, &entry)
        .await
    {
        Ok(_) | Err(store::Error::InvalidState(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `md5sum -c` format: `<md5>  <name>`.
fn md5sum_response(a: &store::Artifact) -> Response {
    let body = format!("{}  {}\n", a.md5, a.filename);
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(v) = content_disposition(&format!("{}{MD5SUM_SUFFIX}", a.filename)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

fn content_disposition(filename: &str) -> Result<HeaderValue, header::InvalidHeaderValue> {
    // Quotes and control characters cannot be escaped portably; replace them.
    let safe: String = filename
        .chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() || !c.is_ascii() {
                '_'
            } else {
                c
            }
        })
        .collect();
    HeaderValue::from_str(&format!("attachment;filename=\"{safe}\""))
}

/// What a `Range` header asks for, relative to a file of known length.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeRequest {
    /// No usable header: send the whole file (RFC 9110 says to ignore an invalid `Range`).
    Full,
    /// Inclusive byte ranges, each within the file.
    Ranges(Vec<(u64, u64)>),
    /// Syntactically valid, but no range overlaps the file: 416.
    Unsatisfiable,
}

/// Parses `bytes=a-b, c-, -n`.
pub(crate) fn parse_range(value: &str, len: u64) -> RangeRequest {
    let Some((unit, specs)) = value.split_once('=') else {
        return RangeRequest::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeRequest::Full;
    }
    let mut out = Vec::new();
    let mut count = 0;
    for spec in specs.split(',') {
        count += 1;
        if count > MAX_RANGES {
            return RangeRequest::Full;
        }
        let Some((a, b)) = spec.trim().split_once('-') else {
            return RangeRequest::Full;
        };
        let num = |s: &str| -> Option<u64> {
            (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        match (a.trim(), b.trim()) {
            ("", suffix) => {
                let Some(n) = num(suffix) else {
                    return RangeRequest::Full;
                };
                if n > 0 && len > 0 {
                    out.push((len - n.min(len), len - 1));
                }
            }
            (first, last) => {
                let Some(first) = num(first) else {
                    return RangeRequest::Full;
                };
                let last = if last.is_empty() {
                    u64::MAX
                } else {
                    match num(last) {
                        Some(l) if l >= first => l,
                        _ => return RangeRequest::Full,
                    }
                };
                if first < len {
                    out.push((first, last.min(len - 1)));
                }
            }
        }
    }
    if out.is_empty() {
        RangeRequest::Unsatisfiable
    } else {
        RangeRequest::Ranges(out)
    }
}

/// Whether any entity tag in an `If-Match` list matches (`*` matches anything).
fn if_match_ok(value: &str, etag: &str) -> bool {
    value
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == etag)
}

enum Segment {
    Bytes(Bytes),
    File { start: u64, len: u64 },
}

fn segments_len(segs: &[Segment]) -> u64 {
    segs.iter()
        .map(|s| match s {
            Segment::Bytes(b) => b.len() as u64,
            Segment::File { len, .. } => *len,
        })
        .sum()
}

/// Streams the segments, reading file parts in [`CHUNK`]-sized pieces; memory stays flat
/// however large the bundle. Each piece is one positioned read (`pread`) on the blocking pool:
/// no seek, and one thread hop per piece.
fn stream_body(file: std::fs::File, segs: Vec<Segment>) -> Body {
    let state = (std::sync::Arc::new(file), VecDeque::from(segs));
    let stream = futures_util::stream::unfold(state, |(file, mut segs)| async move {
        let seg = segs.pop_front()?;
        match seg {
            Segment::Bytes(b) => Some((Ok(b), (file, segs))),
            Segment::File { start, len } => {
                let n = len.min(CHUNK);
                let reader = file.clone();
                let read = tokio::task::spawn_blocking(move || {
                    use std::os::unix::fs::FileExt;
                    let mut buf = vec![0u8; usize::try_from(n).unwrap_or(0)];
                    reader.read_exact_at(&mut buf, start).map(|()| buf)
                })
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)));
                match read {
                    Ok(buf) => {
                        if len > n {
                            segs.push_front(Segment::File {
                                start: start + n,
                                len: len - n,
                            });
                        }
                        Some((Ok(Bytes::from(buf)), (file, segs)))
                    }
                    Err(e) => {
                        // Ends the response; the client sees a short body and retries.
                        tracing::error!(error = %e, "reading artifact failed mid-response");
                        segs.clear();
                        Some((Err(e), (file, segs)))
                    }
                }
            }
        }
    });
    Body::from_stream(stream)
}

async fn serve_file(
    state: &AppState,
    a: &store::Artifact,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let etag = format!("\"{}\"", a.sha1);
    let last_modified = httpdate::format_ms(a.created_at);
    if let Some(v) = headers.get(header::IF_MATCH) {
        if !if_match_ok(v.to_str().unwrap_or(""), &etag) {
            return Err(ApiError::PreconditionFailed);
        }
    }
    let len = a.size;
    // If-Range: honour the Range only if the client's copy is still current.
    let range_applies = match headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(v) => v.trim() == etag || v.trim() == last_modified,
    };
    let request = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) if range_applies => parse_range(v, len),
        _ => RangeRequest::Full,
    };

    let (status, segs, content_type, content_range) = match request {
        RangeRequest::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(len)),
        RangeRequest::Full => (
            StatusCode::OK,
            vec![Segment::File { start: 0, len }],
            None,
            None,
        ),
        RangeRequest::Ranges(r) if r.len() == 1 => {
            let (first, last) = r[0];
            (
                StatusCode::PARTIAL_CONTENT,
                vec![Segment::File {
                    start: first,
                    len: last - first + 1,
                }],
                None,
                Some(format!("bytes {first}-{last}/{len}")),
            )
        }
        RangeRequest::Ranges(r) => {
            let mut segs = Vec::with_capacity(r.len() * 2 + 1);
            for (first, last) in r {
                segs.push(Segment::Bytes(Bytes::from(format!(
                    "\r\n--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\n\
                     Content-Range: bytes {first}-{last}/{len}\r\n\r\n"
                ))));
                segs.push(Segment::File {
                    start: first,
                    len: last - first + 1,
                });
            }
            segs.push(Segment::Bytes(Bytes::from(format!(
                "\r\n--{BOUNDARY}--\r\n"
            ))));
            (
                StatusCode::PARTIAL_CONTENT,
                segs,
                Some(format!("multipart/byteranges; boundary={BOUNDARY}")),
                None,
            )
        }
    };
    let body_len = segments_len(&segs);
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        let path = state.artifacts.path_of(&a.sha256)?;
        let file =
            tokio::fs::File::open(&path)
                .await
                .map_err(|source| crate::artifacts::Error::Io {
                    context: "open artifact for download",
                    source,
                })?;
        stream_body(file.into_std().await, segs)
    };

    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    let ct = content_type.unwrap_or_else(|| "application/octet-stream".into());
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&ct).map_err(anyhow::Error::from)?,
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(body_len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).map_err(anyhow::Error::from)?,
    );
    h.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_str(&last_modified).map_err(anyhow::Error::from)?,
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = content_disposition(&a.filename) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(cr) = content_range {
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&cr).map_err(anyhow::Error::from)?,
        );
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-9", 100), Ranges(vec![(0, 9)]));
        assert_eq!(parse_range("bytes=90-", 100), Ranges(vec![(90, 99)]));
        assert_eq!(parse_range("bytes=90-500", 100), Ranges(vec![(90, 99)]));
        assert_eq!(parse_range("bytes=-10", 100), Ranges(vec![(90, 99)]));
        assert_eq!(parse_range("bytes=-500", 100), Ranges(vec![(0, 99)]));
        assert_eq!(
            parse_range("BYTES= 0-1 , 5-6", 100),
            Ranges(vec![(0, 1), (5, 6)])
        );
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=200-300, 150-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=100-200, 0-0", 100), Ranges(vec![(0, 0)]));
        for ignored in [
            "items=0-1",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=",
            "bytes=1",
            "0-1",
            "bytes=+1-2",
        ] {
            assert_eq!(parse_range(ignored, 100), Full, "{ignored}");
        }
        let many = format!(
            "bytes={}",
            (0..40)
                .map(|i| format!("{i}-{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(parse_range(&many, 100), Full);
    }

    #[test]
    fn if_match_lists() {
        assert!(if_match_ok("*", "\"a\""));
        assert!(if_match_ok("\"b\", \"a\"", "\"a\""));
        assert!(!if_match_ok("\"b\"", "\"a\""));
        assert!(!if_match_ok("a", "\"a\""));
    }
}
