//! The one place the agent runs other programs: the health-check command,
//! `systemctl is-active`, and the reboot command. Everything has a time
//! limit and is killed when it runs over.

use std::process::Stdio;
use std::time::Duration;

/// A program that failed or ran too long.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// It could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// argv\[0\].
        program: String,
        /// The cause.
        source: std::io::Error,
    },
    /// It exited with a failure status.
    #[error("{program} failed ({status}): {output}")]
    Failed {
        /// argv\[0\].
        program: String,
        /// Exit status.
        status: String,
        /// The end of its output.
        output: String,
    },
    /// It did not finish in time.
    #[error("{program} did not finish within {0:?}", .timeout)]
    Timeout {
        /// argv\[0\].
        program: String,
        /// The limit.
        timeout: Duration,
    },
    /// An empty command line.
    #[error("empty command")]
    Empty,
}

fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim();
    let start = s.len().saturating_sub(400);
    let start = (start..s.len())
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(s.len());
    s[start..].to_string()
}

/// Runs `argv` (no shell) and waits up to `timeout` for it to exit 0.
/// Returns its standard output.
pub async fn run(argv: &[String], timeout: Duration) -> Result<String, ExecError> {
    let (program, args) = argv.split_first().ok_or(ExecError::Empty)?;
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ExecError::Spawn {
            program: program.clone(),
            source,
        })?;
    let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(r) => r.map_err(|source| ExecError::Spawn {
            program: program.clone(),
            source,
        })?,
        Err(_) => {
            return Err(ExecError::Timeout {
                program: program.clone(),
                timeout,
            })
        }
    };
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let mut both = out.stdout;
        both.extend_from_slice(&out.stderr);
        Err(ExecError::Failed {
            program: program.clone(),
            status: out.status.to_string(),
            output: tail(&both),
        })
    }
}

/// The units among `units` that are not active right now.
pub async fn inactive_units(units: &[String]) -> Result<Vec<String>, ExecError> {
    let mut inactive = Vec::new();
    for u in units {
        let argv = vec![
            "systemctl".to_string(),
            "is-active".into(),
            "--quiet".into(),
            u.clone(),
        ];
        match run(&argv, Duration::from_secs(10)).await {
            Ok(_) => {}
            Err(ExecError::Failed { .. }) => inactive.push(u.clone()),
            Err(e) => return Err(e),
        }
    }
    Ok(inactive)
}
