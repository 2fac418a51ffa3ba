//! Downloading a bundle to the data partition so that a dropped connection,
//! a killed agent or a power cut costs only the bytes not yet written.
//!
//! The bundle is written to `<name>.part`. On every attempt the part already
//! there is hashed again (cheap next to a network transfer) and the rest is
//! requested with `Range`. Size and SHA-256 are checked while streaming; the
//! file gets its final name only when both match, after an fsync. Free space
//! is checked before the first byte is fetched.

use crate::client::{ClientError, DdiClient};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Why a download did not complete.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The request failed; the part file is kept for resuming.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The connection broke mid-transfer; the part file is kept.
    #[error("download of {url} interrupted after {done} of {size} bytes: {source}")]
    Interrupted {
        /// The URL.
        url: String,
        /// Bytes on disk.
        done: u64,
        /// Expected size.
        size: u64,
        /// The cause.
        source: reqwest::Error,
    },
    /// Not enough space on the data partition.
    #[error("not enough free space in {dir}: need {needed} bytes, {available} available")]
    NoSpace {
        /// The directory.
        dir: PathBuf,
        /// Bytes needed (rest of the bundle plus the reserve).
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// The content is not what the server announced; the part file is removed.
    #[error("downloaded file does not match: {0}")]
    Mismatch(String),
    /// Local I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Stopped on request (cancel or shutdown); the part file is kept.
    #[error("download stopped")]
    Stopped,
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> DownloadError {
    let context = context.into();
    move |source| DownloadError::Io { context, source }
}

/// What to fetch.
#[derive(Debug, Clone)]
pub struct Request {
    /// Where from.
    pub url: url::Url,
    /// Final file.
    pub dest: PathBuf,
    /// Announced size.
    pub size: u64,
    /// Announced SHA-256, lowercase hex.
    pub sha256: String,
    /// Free space to leave beyond the file.
    pub reserve: u64,
}

fn part_path(dest: &Path) -> PathBuf {
    let mut p = dest.as_os_str().to_owned();
    p.push(".part");
    PathBuf::from(p)
}

/// Bytes of `path` already downloaded, hashed into `sha`.
fn rehash(path: &Path, sha: &mut Sha256) -> Result<u64, DownloadError> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
    };
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let r = f
            .read(&mut buf)
            .map_err(io(format!("reading {}", path.display())))?;
        if r == 0 {
            return Ok(n);
        }
        sha.update(&buf[..r]);
        n += r as u64;
    }
}

fn available(dir: &Path) -> Result<u64, DownloadError> {
    let st = rustix::fs::statvfs(dir).map_err(|e| DownloadError::Io {
        context: format!("checking free space in {}", dir.display()),
        source: e.into(),
    })?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Downloads (or finishes downloading) `req`, reporting bytes on disk.
/// `stop` is polled between chunks.
pub async fn fetch(
    client: &DdiClient,
    req: &Request,
    mut progress: impl FnMut(u64),
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<PathBuf, DownloadError> {
    if req.dest.exists() {
        // Finished earlier (e.g. before a crash during installation): check it.
        let mut sha = Sha256::new();
        let n = rehash(&req.dest, &mut sha)?;
        if n == req.size && hex::encode(sha.finalize()) == req.sha256 {
            return Ok(req.dest.clone());
        }
        std::fs::remove_file(&req.dest).map_err(io(format!("removing {}", req.dest.display())))?;
    }
    let part = part_path(&req.dest);
    let mut sha = Sha256::new();
    let mut done = rehash(&part, &mut sha)?;
    if done > req.size {
        std::fs::remove_file(&part).map_err(io(format!("removing {}", part.display())))?;
        sha = Sha256::new();
        done = 0;
    }
    let dir = req.dest.parent().unwrap_or(Path::new("."));
    let needed = (req.size - done).saturating_add(req.reserve);
    let avail = available(dir)?;
    if avail < needed {
        return Err(DownloadError::NoSpace {
            dir: dir.to_path_buf(),
            needed,
            available: avail,
        });
    }
    progress(done);
    if done < req.size {
        let mut resp = client.get_range(&req.url, done).await?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&part)
            .map_err(io(format!("opening {}", part.display())))?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {}
            StatusCode::OK if done > 0 => {
                // The server ignored the range: start again from zero.
                file.set_len(0)
                    .map_err(io(format!("truncating {}", part.display())))?;
                sha = Sha256::new();
                done = 0;
            }
            StatusCode::OK => {}
            s => {
                return Err(DownloadError::Client(ClientError::Status {
                    url: req.url.to_string(),
                    status: s,
                }))
            }
        }
        loop {
            if *stop.borrow() {
                let _ = file.sync_all();
                return Err(DownloadError::Stopped);
            }
            let chunk = match resp.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(source) => {
                    let _ = file.sync_all();
                    return Err(DownloadError::Interrupted {
                        url: req.url.to_string(),
                        done,
                        size: req.size,
                        source,
                    });
                }
            };
            if done + chunk.len() as u64 > req.size {
                drop(file);
                let _ = std::fs::remove_file(&part);
                return Err(DownloadError::Mismatch(format!(
                    "server sent more than the announced {} bytes",
                    req.size
                )));
            }
            file.write_all(&chunk)
                .map_err(io(format!("writing {}", part.display())))?;
            sha.update(&chunk);
            done += chunk.len() as u64;
            progress(done);
        }
        file.sync_all()
            .map_err(io(format!("writing {}", part.display())))?;
        if done < req.size {
            return Err(DownloadError::Mismatch(format!(
                "connection closed after {done} of {} bytes",
                req.size
            )));
        }
    }
    let digest = hex::encode(sha.finalize());
    if digest != req.sha256.to_ascii_lowercase() {
        let _ = std::fs::remove_file(&part);
        return Err(DownloadError::Mismatch(format!(
            "sha256 is {digest}, the server announced {}",
            req.sha256
        )));
    }
    std::fs::rename(&part, &req.dest).map_err(io(format!("renaming {}", part.display())))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(req.dest.clone())
}
