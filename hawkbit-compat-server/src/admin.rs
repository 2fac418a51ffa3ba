//! The `user` subcommands: operator accounts managed from the shell, on the configured
//! database, without the server running (`hawkbit-compat-server user add alice --role admin`).
//!
//! Passwords are read from standard input, never from the command line (where other users
//! could read them in the process list) and never logged. On a terminal the input is not
//! echoed; from a pipe the first line is taken.

use std::io::{BufRead, Write};

use anyhow::{bail, Context};

use crate::config::{Config, UserCommand};
use crate::store::{self, Role, Store};

/// Shortest accepted password, as for the management API.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest accepted password.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Runs one `user` subcommand against the configured database. `password_input` supplies the
/// password for `add`; results go to `out`.
///
/// # Errors
///
/// A clear message when the database cannot be opened, the user exists (`add`) or does not
/// (`remove`), the password is unacceptable, or the last admin would be removed.
pub async fn run_user_command(
    command: UserCommand,
    config: &Config,
    password_input: impl FnOnce() -> std::io::Result<String>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
    }
    let store = Store::connect(&config.database_url)
        .await
        .context("opening the database")?;
    let result = run_on_store(command, &store, password_input, out).await;
    store.close().await;
    result
}

async fn run_on_store(
    command: UserCommand,
    store: &Store,
    password_input: impl FnOnce() -> std::io::Result<String>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { name, role } => {
            check_username(&name)?;
            let role: Role = role
                .parse()
                .map_err(|()| anyhow::anyhow!("role must be admin or readonly"))?;
            // Checked before asking for a password, so a typo costs no typing.
            if store.operator_by_username(&name).await?.is_some() {
                bail!("user {name} already exists (remove it first to change it)");
            }
            let password = password_input().context("reading the password from stdin")?;
            if password.len() < MIN_PASSWORD_LEN || password.len() > MAX_PASSWORD_LEN {
                bail!("the password must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} bytes");
            }
            let hash = tokio::task::spawn_blocking(move || crate::password::hash(&password))
                .await
                .context("hashing the password")??;
            match store.create_operator(&name, &hash, role).await {
                Ok(_) => {}
                Err(store::Error::Conflict) => bail!("user {name} already exists"),
                Err(e) => return Err(e.into()),
            }
            writeln!(out, "created user {name} ({role})")?;
        }
        UserCommand::List => {
            let ops = store.list_operators().await?;
            writeln!(out, "{:<32} {:<9} CREATED", "NAME", "ROLE")?;
            for op in ops {
                writeln!(
                    out,
                    "{:<32} {:<9} {}",
                    op.username,
                    op.role.as_str(),
                    crate::api::http_date(op.created_at)
                )?;
            }
        }
        UserCommand::Remove { name } => match store.delete_operator(&name).await {
            Ok(true) => writeln!(out, "removed user {name}")?,
            Ok(false) => bail!("user {name} does not exist"),
            Err(store::Error::InvalidState(msg)) => bail!("{msg}"),
            Err(e) => return Err(e.into()),
        },
    }
    Ok(())
}

fn check_username(name: &str) -> anyhow::Result<()> {
    if name.trim().is_empty()
        || name.len() > 64
        || name.contains(':')
        || name.chars().any(char::is_control)
    {
        bail!("the user name must be 1 to 64 characters without ':' or control characters");
    }
    Ok(())
}

/// Reads a password from standard input: without echo when it is a terminal (prompting on
/// stderr), else the first line. The line end is removed; nothing else is trimmed.
///
/// # Errors
///
/// I/O errors, or end of input before any line.
pub fn read_password_from_stdin() -> std::io::Result<String> {
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password: ");
        let _ = std::io::stderr().flush();
        let guard = EchoOff::new(&stdin);
        let line = read_line(&mut stdin.lock());
        drop(guard);
        eprintln!();
        line
    } else {
        read_line(&mut stdin.lock())
    }
}

fn read_line(input: &mut dyn BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "no password given on standard input",
        ));
    }
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    Ok(line)
}

/// Turns terminal echo off until dropped.
struct EchoOff {
    saved: Option<rustix::termios::Termios>,
}

impl EchoOff {
    fn new(stdin: &std::io::Stdin) -> Self {
        use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
        let saved = tcgetattr(stdin).ok();
        if let Some(t) = &saved {
            let mut quiet = t.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            quiet.local_modes.insert(LocalModes::ECHONL);
            let _ = tcsetattr(stdin, OptionalActions::Now, &quiet);
        }
        EchoOff { saved }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                t,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_are_removed_and_nothing_else() {
        let mut input = std::io::Cursor::new(b" secret pass \r\nsecond".to_vec());
        assert_eq!(read_line(&mut input).unwrap(), " secret pass ");
        let mut empty = std::io::Cursor::new(Vec::new());
        assert!(read_line(&mut empty).is_err());
    }

    #[test]
    fn user_names_are_checked() {
        assert!(check_username("alice").is_ok());
        for bad in ["", "  ", "a:b", "a\nb", &"x".repeat(65)] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
    }
}
