//! The one place that runs external programs: mtools for FAT and debugfs
//! (e2fsprogs) for ext4 partitions.

use std::ffi::OsStr;
use std::io;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{program} not found: install the Debian package {package}")]
    NotFound {
        program: String,
        package: &'static str,
    },
    #[error("cannot run {program}: {source}")]
    Spawn { program: String, source: io::Error },
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        program: String,
        status: String,
        stderr: String,
    },
}

fn package_of(program: &str) -> &'static str {
    match program {
        "debugfs" => "e2fsprogs",
        p if p.starts_with('m') => "mtools",
        _ => "that provides it",
    }
}

/// Runs `program` with `args`; returns its standard output if it exited 0.
pub fn run<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<Vec<u8>, ExecError> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => ExecError::NotFound {
                program: program.into(),
                package: package_of(program),
            },
            _ => ExecError::Spawn {
                program: program.into(),
                source,
            },
        })?;
    if !out.status.success() {
        return Err(ExecError::Failed {
            program: program.into(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out.stdout)
}
