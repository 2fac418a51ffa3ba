//! What the agent must remember across a reboot or a crash, kept in small
//! JSON files in the state directory. Every write goes to a temporary file
//! that is synced and renamed over the old one, so after a power cut the
//! file holds either the old or the new content, never a mix.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An update installed but not yet confirmed, or confirmed but not yet
/// reported to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The server's action id (`None` for a local upload).
    pub action_id: Option<u64>,
    /// Version of the installed bundle.
    pub version: Option<String>,
    /// Bootname the device ran when it installed.
    pub from_bootname: String,
    /// Slot that was written, e.g. `rootfs.1`.
    pub to_slot: String,
    /// Its bootname, e.g. `system1`.
    pub to_bootname: String,
    /// The decision once taken after the reboot; reported, then cleared.
    #[serde(default)]
    pub outcome: Option<Outcome>,
}

/// How an update ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Whether the new slot is kept.
    pub success: bool,
    /// Why, for the server's action history.
    pub details: Vec<String>,
    /// Whether a fall-back reboot into the old slot is still to be done.
    #[serde(default)]
    pub reboot_back: bool,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

/// Failure to read or write state.
#[derive(Debug, thiserror::Error)]
#[error("state file {path}: {source}")]
pub struct StateError {
    path: PathBuf,
    source: std::io::Error,
}

fn err(path: &Path, source: std::io::Error) -> StateError {
    StateError {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `data` to `path` atomically and durably.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| err(path, e))?;
    tmp.write_all(data).map_err(|e| err(path, e))?;
    tmp.as_file().sync_all().map_err(|e| err(path, e))?;
    tmp.persist(path).map_err(|e| err(path, e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

impl StateDir {
    /// Opens (and creates) the directory.
    pub fn open(dir: &Path) -> Result<StateDir, StateError> {
        std::fs::create_dir_all(dir.join("downloads")).map_err(|e| err(dir, e))?;
        Ok(StateDir {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Where downloads go.
    pub fn downloads(&self) -> PathBuf {
        self.dir.join("downloads")
    }

    fn pending_path(&self) -> PathBuf {
        self.dir.join("pending.json")
    }

    /// The pending update, if any. A damaged file is an error, not "none":
    /// forgetting an unconfirmed update would leave a bad slot marked good.
    pub fn pending(&self) -> Result<Option<Pending>, StateError> {
        let p = self.pending_path();
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| err(&p, std::io::Error::new(std::io::ErrorKind::InvalidData, e))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(err(&p, e)),
        }
    }

    /// Records the pending update.
    pub fn save_pending(&self, p: &Pending) -> Result<(), StateError> {
        let json = serde_json::to_vec_pretty(p).expect("serialisable");
        write_atomic(&self.pending_path(), &json)
    }

    /// Forgets the pending update (after it was reported).
    pub fn clear_pending(&self) -> Result<(), StateError> {
        match std::fs::remove_file(self.pending_path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(err(&self.pending_path(), e)),
        }
    }

    /// Actions already answered without installing (development mode,
    /// refused versions), so the answer is sent once, not on every poll.
    pub fn answered(&self) -> Vec<u64> {
        std::fs::read(self.dir.join("answered.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Remembers an answered action (keeps the last 64).
    pub fn add_answered(&self, id: u64) -> Result<(), StateError> {
        let mut ids = self.answered();
        if !ids.contains(&id) {
            ids.push(id);
        }
        let start = ids.len().saturating_sub(64);
        let json = serde_json::to_vec(&ids[start..]).expect("serialisable");
        write_atomic(&self.dir.join("answered.json"), &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_round_trip_and_damage_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let s = StateDir::open(d.path()).unwrap();
        assert_eq!(s.pending().unwrap(), None);
        let p = Pending {
            action_id: Some(7),
            version: Some("2.0.0".into()),
            from_bootname: "system0".into(),
            to_slot: "rootfs.1".into(),
            to_bootname: "system1".into(),
            outcome: None,
        };
        s.save_pending(&p).unwrap();
        assert_eq!(s.pending().unwrap(), Some(p));
        std::fs::write(d.path().join("pending.json"), b"{\"action_id\":").unwrap();
        assert!(s.pending().is_err());
        s.clear_pending().unwrap();
        assert_eq!(s.pending().unwrap(), None);
        s.add_answered(3).unwrap();
        s.add_answered(3).unwrap();
        assert_eq!(s.answered(), vec![3]);
    }
}
