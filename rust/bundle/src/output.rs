//! Writing a result file so that it either appears complete or not at all.
//!
//! The data goes to a temporary file next to the destination; only after it
//! is complete and fsynced is it linked to the final name, refusing to
//! replace anything already there. If any step fails (a full disk, a
//! signing error, a crash) the temporary file is removed, or at worst left
//! under a hidden `.NAME.tmp*` name, and the destination never holds a
//! partial bundle.

use crate::error::{Error, Result};
use std::fs::File;
use std::path::{Path, PathBuf};

/// A file being written that will become `dest` on [`AtomicOutput::commit`].
pub struct AtomicOutput {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl AtomicOutput {
    /// Starts writing `dest`, failing at once if it already exists.
    pub fn create(dest: &Path) -> Result<AtomicOutput> {
        if dest.symlink_metadata().is_ok() {
            return Err(Error::OutputExists(dest.to_path_buf()));
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = dest
            .file_name()
            .ok_or_else(|| Error::Content(format!("{} is not a file name", dest.display())))?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.tmp", name.to_string_lossy()))
            .tempfile_in(parent)
            .map_err(|e| {
                Error::io(
                    format!("creating a temporary file in {}", parent.display()),
                    e,
                )
            })?;
        Ok(AtomicOutput {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// Path of the temporary file (for writers that open by path).
    pub fn temp_path(&self) -> &Path {
        self.tmp.path()
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// The final destination.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Flushes to disk and moves the file to its final name, never replacing
    /// an existing file.
    pub fn commit(self) -> Result<PathBuf> {
        let dest = self.dest;
        self.tmp
            .as_file()
            .sync_all()
            .map_err(|e| Error::io(format!("writing {}", dest.display()), e))?;
        self.tmp.persist_noclobber(&dest).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                Error::OutputExists(dest.clone())
            } else {
                Error::io(
                    format!("moving the finished file to {}", dest.display()),
                    e.error,
                )
            }
        })?;
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(dir) = File::open(parent) {
                let _ = dir.sync_all();
            }
        }
        Ok(dest)
    }
}
