//! Content-addressed artifact files on the local file system.
//!
//! Files are stored once per content under `objects/<first two hex digits>/<sha256>`, so two
//! software modules carrying the same bundle share the bytes, and a file's name can never be
//! used to reach outside the folder. Writes are crash-safe: the content streams into a temp file
//! in `tmp/` (same file system) while MD5, SHA-1 and SHA-256 are computed, then the file is
//! fsynced, renamed into place and the directory fsynced. A crash leaves at most an orphan in
//! `tmp/`, which is emptied at startup, never a half-written object under its final name.
//!
//! The database row that makes an object an artifact is written after the rename, so a crash
//! (or a refused insert) between the two leaves an object nothing refers to. Such objects are
//! swept at startup ([`ArtifactStore::sweep_unreferenced`]), but only once they are an hour old:
//! with several servers sharing the folder, a younger one may be another server's upload that
//! is about to be recorded.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use openssl::hash::{Hasher, MessageDigest};
use tokio::io::AsyncWriteExt;

/// Errors of the artifact store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// File system failure.
    #[error("artifact storage I/O failed: {context}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Hashing failed (OpenSSL).
    #[error("hashing failed")]
    Hash(#[from] openssl::error::ErrorStack),
    /// The upload stream failed (client went away, body error).
    #[error("upload stream failed: {0}")]
    Upload(String),
    /// The upload is larger than allowed.
    #[error("file exceeds the limit of {0} bytes")]
    TooLarge(u64),
    /// Not a lowercase hex SHA-256 (refusing to build a path from it).
    #[error("invalid content address")]
    InvalidAddress,
}

fn io_err(context: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// Checksums and size of a stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// SHA-1, lowercase hex.
    pub sha1: String,
    /// MD5, lowercase hex.
    pub md5: String,
    /// SHA-256, lowercase hex; the content address.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// The artifact folder.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    root: PathBuf,
}

impl ArtifactStore {
    /// Opens (creating if needed) the store in `root` and removes leftovers of interrupted
    /// uploads.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the folders cannot be created.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, Error> {
        let root = root.into();
        tokio::fs::create_dir_all(root.join("objects"))
            .await
            .map_err(io_err("create objects dir"))?;
        let tmp = root.join("tmp");
        if tmp.exists() {
            tokio::fs::remove_dir_all(&tmp)
                .await
                .map_err(io_err("clean tmp dir"))?;
        }
        tokio::fs::create_dir_all(&tmp)
            .await
            .map_err(io_err("create tmp dir"))?;
        Ok(ArtifactStore { root })
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of the object with this SHA-256.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] unless `sha256` is 64 lowercase hex digits.
    pub fn path_of(&self, sha256: &str) -> Result<PathBuf, Error> {
        if sha256.len() != 64
            || !sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(Error::InvalidAddress);
        }
        Ok(self.root.join("objects").join(&sha256[..2]).join(sha256))
    }

    /// A new temp file path in the store's `tmp/` folder (same file system as the objects, so
    /// the final rename is atomic). Callers that need to inspect the file before accepting it
    /// use [`ArtifactStore::write_stream_to_temp`] and [`ArtifactStore::commit`].
    fn temp_path(&self) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("upload-{}-{n}", std::process::id()))
    }

    /// Streams `body` into a temp file, hashing as it goes, and fsyncs it. At most `max_size`
    /// bytes are accepted. The temp file is removed on error.
    ///
    /// # Errors
    ///
    /// [`Error::Upload`] when the stream fails, [`Error::TooLarge`] beyond `max_size`,
    /// [`Error::Io`].
    pub async fn write_stream_to_temp<S, E>(
        &self,
        body: S,
        max_size: u64,
    ) -> Result<TempFile, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = self.temp_path();
        let result = Self::write_and_hash(&path, body, max_size).await;
        match result {
            Ok(stored) => Ok(TempFile { path, stored }),
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                Err(e)
            }
        }
    }

    async fn write_and_hash<S, E>(
        path: &Path,
        mut body: S,
        max_size: u64,
    ) -> Result<StoredFile, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut file = tokio::fs::File::create(path)
            .await
            .map_err(io_err("create temp file"))?;
        let mut md5 = Hasher::new(MessageDigest::md5())?;
        let mut sha1 = Hasher::new(MessageDigest::sha1())?;
        let mut sha256 = Hasher::new(MessageDigest::sha256())?;
        let mut size: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Error::Upload(e.to_string()))?;
            size += chunk.len() as u64;
            if size > max_size {
                return Err(Error::TooLarge(max_size));
            }
            md5.update(&chunk)?;
            sha1.update(&chunk)?;
            sha256.update(&chunk)?;
            file.write_all(&chunk)
                .await
                .map_err(io_err("write temp file"))?;
        }
        file.flush().await.map_err(io_err("flush temp file"))?;
        file.sync_all().await.map_err(io_err("fsync temp file"))?;
        Ok(StoredFile {
            sha1: hex::encode(sha1.finish()?),
            md5: hex::encode(md5.finish()?),
            sha256: hex::encode(sha256.finish()?),
            size,
        })
    }

    /// Moves a verified temp file to its content address. If the content is already stored,
    /// the temp file is dropped and the existing object kept.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub async fn commit(&self, temp: TempFile) -> Result<StoredFile, Error> {
        let dest = self.path_of(&temp.stored.sha256)?;
        let dir = dest.parent().expect("object path has a parent").to_owned();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(io_err("create object dir"))?;
        if tokio::fs::try_exists(&dest)
            .await
            .map_err(io_err("check object"))?
        {
            let _ = tokio::fs::remove_file(&temp.path).await;
            // Freshen it: an unreferenced copy might otherwise be swept before this upload's
            // row is written.
            let f = std::fs::File::options()
                .write(true)
                .open(&dest)
                .map_err(io_err("open object"))?;
            f.set_modified(std::time::SystemTime::now())
                .map_err(io_err("touch object"))?;
            return Ok(temp.stored);
        }
        tokio::fs::rename(&temp.path, &dest)
            .await
            .map_err(io_err("rename into place"))?;
        // Persist the directory entry too, or a power cut could lose the renamed file.
        let d = tokio::fs::File::open(&dir)
            .await
            .map_err(io_err("open object dir"))?;
        d.sync_all().await.map_err(io_err("fsync object dir"))?;
        Ok(temp.stored)
    }

    /// Deletes objects older than `min_age` whose SHA-256 is not in `referenced` (see the module
    /// documentation); returns how many. Run before serving.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the folder cannot be read; objects that cannot be removed are logged
    /// and kept.
    pub fn sweep_unreferenced(
        &self,
        referenced: &std::collections::HashSet<String>,
        min_age: std::time::Duration,
    ) -> Result<usize, Error> {
        let objects = self.root.join("objects");
        let mut removed = 0;
        let Ok(prefixes) = std::fs::read_dir(&objects) else {
            return Ok(0);
        };
        for prefix in prefixes {
            let prefix = prefix.map_err(io_err("read objects dir"))?;
            if !prefix.file_type().map_err(io_err("stat"))?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(prefix.path()).map_err(io_err("read objects dir"))? {
                let entry = entry.map_err(io_err("read objects dir"))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if referenced.contains(&name) {
                    continue;
                }
                let age = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .unwrap_or_default();
                if age < min_age {
                    continue;
                }
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) => {
                        tracing::warn!(object = %name, error = %e, "cannot remove an unreferenced object")
                    }
                }
            }
        }
        Ok(removed)
    }

    /// Streams, hashes and stores `body` in one go.
    ///
    /// # Errors
    ///
    /// As [`ArtifactStore::write_stream_to_temp`] and [`ArtifactStore::commit`].
    pub async fn store_stream<S, E>(&self, body: S, max_size: u64) -> Result<StoredFile, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let temp = self.write_stream_to_temp(body, max_size).await?;
        self.commit(temp).await
    }
}

/// An uploaded file in `tmp/`, hashed and fsynced, not yet under its content address.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    stored: StoredFile,
}

impl TempFile {
    /// Where the file is (for inspecting it before commit).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its checksums and size.
    pub fn stored(&self) -> &StoredFile {
        &self.stored
    }

    /// Deletes the file (upload rejected).
    pub async fn discard(self) {
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, io::Error>> + Unpin {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn stores_by_content_with_all_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(dir.path()).await.unwrap();
        let f = store
            .store_stream(chunks(&[b"hello ", b"world"]), 1 << 20)
            .await
            .unwrap();
        assert_eq!(f.size, 11);
        assert_eq!(f.md5, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(f.sha1, "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed");
        assert_eq!(
            f.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        let path = store.path_of(&f.sha256).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");
        assert!(path.starts_with(dir.path().join("objects/b9")));
        // Same content again: deduplicated, temp folder left empty.
        let g = store
            .store_stream(chunks(&[b"hello world"]), 1 << 20)
            .await
            .unwrap();
        assert_eq!(f, g);
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    #[tokio::test]
    async fn oversize_and_failing_uploads_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(dir.path()).await.unwrap();
        let err = store
            .store_stream(chunks(&[b"12345", b"678"]), 6)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::TooLarge(6)), "{err:?}");
        let failing = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(io::Error::other("client went away")),
        ]);
        assert!(store.store_stream(failing, 100).await.is_err());
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("objects"))
                .unwrap()
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn rejects_addresses_that_are_not_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(dir.path()).await.unwrap();
        for bad in ["../../etc/passwd", "", &"A".repeat(64), &"a".repeat(63)] {
            assert!(store.path_of(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn startup_removes_interrupted_uploads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        std::fs::write(dir.path().join("tmp/upload-1-0"), b"partial").unwrap();
        ArtifactStore::open(dir.path()).await.unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    #[tokio::test]
    async fn sweep_removes_old_unreferenced_objects_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(dir.path()).await.unwrap();
        let kept = store
            .store_stream(chunks(&[b"kept"]), 1 << 20)
            .await
            .unwrap();
        let orphan = store
            .store_stream(chunks(&[b"orphan"]), 1 << 20)
            .await
            .unwrap();
        let young = store
            .store_stream(chunks(&[b"young"]), 1 << 20)
            .await
            .unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for f in [&kept, &orphan] {
            std::fs::File::options()
                .write(true)
                .open(store.path_of(&f.sha256).unwrap())
                .unwrap()
                .set_modified(hour_ago)
                .unwrap();
        }
        let referenced = [kept.sha256.clone()].into_iter().collect();
        let n = store
            .sweep_unreferenced(&referenced, std::time::Duration::from_secs(600))
            .unwrap();
        assert_eq!(n, 1);
        assert!(store.path_of(&kept.sha256).unwrap().exists());
        assert!(!store.path_of(&orphan.sha256).unwrap().exists());
        assert!(
            store.path_of(&young.sha256).unwrap().exists(),
            "too young to judge"
        );
    }
}
