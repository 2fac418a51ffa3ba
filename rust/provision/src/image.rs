//! Putting the provisioning file into a partition: the bootenv partition
//! (FAT, `/bootenv/provisioning.env` on the device) through mtools, or the
//! data partition (ext4, `/data/factory/provisioning.env`) through debugfs.
//! Both work on an image file at a byte offset, so the same code serves a
//! whole disk image and a single partition image.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::envfile::FILE_NAME;
use crate::exec::{self, ExecError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    Fat,
    Ext4,
}

impl FsKind {
    /// Where the first-boot script looks on the device.
    pub fn device_path(self) -> &'static str {
        match self {
            FsKind::Fat => "/bootenv/provisioning.env",
            FsKind::Ext4 => "/data/factory/provisioning.env",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("the partition at byte {offset} holds neither a FAT nor an ext4 file system")]
    UnknownFs { offset: u64 },
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("read-back check failed: the partition does not hold what was written")]
    Mismatch,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ImageError + '_ {
    move |source| ImageError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Which file system starts at `offset` in `image`.
pub fn detect(image: &Path, offset: u64) -> Result<FsKind, ImageError> {
    let mut f = File::open(image).map_err(io_err(image))?;
    let mut head = [0u8; 2048];
    f.seek(SeekFrom::Start(offset)).map_err(io_err(image))?;
    f.read_exact(&mut head).map_err(io_err(image))?;
    if head[1080..1082] == [0x53, 0xef] {
        return Ok(FsKind::Ext4);
    }
    let boot_signature = head[510..512] == [0x55, 0xaa];
    if boot_signature && (&head[54..57] == b"FAT" || &head[82..87] == b"FAT32") {
        return Ok(FsKind::Fat);
    }
    Err(ImageError::UnknownFs { offset })
}

fn debugfs_spec(image: &Path, offset: u64) -> String {
    if offset == 0 {
        image.display().to_string()
    } else {
        format!("{}?offset={offset}", image.display())
    }
}

/// Writes the provisioning file into the file system at `offset` and reads
/// it back. `scratch` is a directory for a temporary copy of the content.
pub fn put_file(
    image: &Path,
    offset: u64,
    kind: FsKind,
    content: &str,
    scratch: &Path,
) -> Result<(), ImageError> {
    let local = scratch.join(format!(".{FILE_NAME}.{}", std::process::id()));
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&local)
            .map_err(io_err(&local))?;
        f.write_all(content.as_bytes()).map_err(io_err(&local))?;
    }
    let result = put_local(image, offset, kind, &local);
    let _ = std::fs::remove_file(&local);
    result?;
    if read_file(image, offset, kind)?.as_deref() != Some(content) {
        return Err(ImageError::Mismatch);
    }
    Ok(())
}

fn put_local(image: &Path, offset: u64, kind: FsKind, local: &Path) -> Result<(), ImageError> {
    match kind {
        FsKind::Fat => {
            let target = format!("{}@@{offset}", image.display());
            exec::run(
                "mcopy",
                &[
                    "-o",
                    "-i",
                    &target,
                    &local.display().to_string(),
                    &format!("::/{FILE_NAME}"),
                ],
            )?;
        }
        FsKind::Ext4 => {
            // debugfs keeps going after a failed command and exits 0; the
            // read-back afterwards is the real check. "mkdir" and "rm" may
            // fail harmlessly (directory exists, no old file).
            let script = format!(
                "mkdir /factory\nrm /factory/{FILE_NAME}\nwrite {} /factory/{FILE_NAME}\n\
                 sif /factory/{FILE_NAME} mode 0100600\nsif /factory/{FILE_NAME} uid 0\nsif /factory/{FILE_NAME} gid 0\n",
                local.display()
            );
            let cmds = local.with_extension("debugfs");
            std::fs::write(&cmds, script).map_err(io_err(&cmds))?;
            let spec = debugfs_spec(image, offset);
            let r = exec::run("debugfs", &["-w", "-f", &cmds.display().to_string(), &spec]);
            let _ = std::fs::remove_file(&cmds);
            r?;
        }
    }
    Ok(())
}

/// The provisioning file in the file system at `offset`, if there is one.
pub fn read_file(image: &Path, offset: u64, kind: FsKind) -> Result<Option<String>, ImageError> {
    let out = match kind {
        FsKind::Fat => {
            let target = format!("{}@@{offset}", image.display());
            match exec::run("mtype", &["-i", &target, &format!("::/{FILE_NAME}")]) {
                Ok(out) => out,
                Err(ExecError::Failed { .. }) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        FsKind::Ext4 => {
            let spec = debugfs_spec(image, offset);
            let out = exec::run(
                "debugfs",
                &["-R", &format!("cat /factory/{FILE_NAME}"), &spec],
            )?;
            if out.is_empty() {
                return Ok(None);
            }
            out
        }
    };
    Ok(Some(String::from_utf8_lossy(&out).into_owned()))
}

/// Copies `len` bytes from `offset` of `src` into a new file `dst`,
/// leaving runs of zeros as holes (disk images are mostly empty).
pub fn copy_range(src: &Path, offset: u64, len: u64, dst: &Path) -> Result<(), ImageError> {
    let mut input = File::open(src).map_err(io_err(src))?;
    input.seek(SeekFrom::Start(offset)).map_err(io_err(src))?;
    // The copy will hold a device's token: private from the start.
    use std::os::unix::fs::OpenOptionsExt;
    let mut output = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dst)
        .map_err(io_err(dst))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let n = input.read(&mut buf[..want]).map_err(io_err(src))?;
        if n == 0 {
            return Err(ImageError::Io {
                path: src.to_owned(),
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "image shorter than its partition table says",
                ),
            });
        }
        if buf[..n].iter().all(|&b| b == 0) {
            output
                .seek(SeekFrom::Current(n as i64))
                .map_err(io_err(dst))?;
        } else {
            output.write_all(&buf[..n]).map_err(io_err(dst))?;
        }
        left -= n as u64;
    }
    output.set_len(len).map_err(io_err(dst))?;
    Ok(())
}
