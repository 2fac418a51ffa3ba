//! `provision-devices`: see the library and docs/manufacturing.md.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use provision::register::{Credentials, Registrar};
use provision::{devices, Output, Plan};

/// Writes per-device provisioning data (serial, hardware revision, server
/// token) for the factory line, in the format the image's first-boot
/// provisioning reads; optionally registers each device on the server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Device list: CSV lines `serial,hardware revision` (rev-a, rev-b)
    #[arg(long, value_name = "CSV")]
    devices: PathBuf,

    /// Output directory (created if missing; nothing in it is overwritten)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,

    /// What to write per device
    #[arg(long, value_enum, default_value_t = Mode::Files)]
    output: Mode,

    /// The factory disk image (wic), for --output partition|image
    #[arg(long, value_name = "IMAGE")]
    image: Option<PathBuf>,

    /// GPT name of the partition that gets the file: bootenv (FAT,
    /// /bootenv/provisioning.env) or data (ext4, /data/factory/provisioning.env)
    #[arg(long, default_value = "bootenv")]
    partition: String,

    /// Update server base URL (recorded in each file; needed by --register)
    #[arg(long, env = "HAWKBIT_URL", value_name = "URL")]
    server: Option<String>,

    /// Create each device as a target on the server (POST /rest/v1/targets)
    /// before writing its data
    #[arg(long)]
    register: bool,

    /// Management API user (HTTP Basic, an admin)
    #[arg(long, env = "HAWKBIT_USER", default_value = "admin")]
    user: String,

    /// File holding the management API password (else $HAWKBIT_PASSWORD)
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,

    /// Also write every device's controllerId,securityToken to this file (0600)
    #[arg(long, value_name = "FILE")]
    secrets_file: Option<PathBuf>,

    /// Print the generated tokens (they are hidden otherwise)
    #[arg(long)]
    show_secrets: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// OUT/<serial>.provisioning.env
    Files,
    /// OUT/<serial>.<partition>.img: a copy of the partition with the file in it
    Partition,
    /// OUT/<serial>.img: a copy of the whole disk image with the file in it
    Image,
}

fn password(cli: &Cli) -> Result<String> {
    if let Some(file) = &cli.password_file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        return Ok(text.trim_end_matches(['\n', '\r']).to_owned());
    }
    std::env::var("HAWKBIT_PASSWORD")
        .context("--register needs --password-file or HAWKBIT_PASSWORD")
}

fn run(cli: Cli) -> Result<()> {
    let text = std::fs::read_to_string(&cli.devices)
        .with_context(|| format!("reading {}", cli.devices.display()))?;
    let devices =
        devices::parse_device_list(&text).with_context(|| format!("{}", cli.devices.display()))?;
    let registrar = if cli.register {
        let Some(server) = &cli.server else {
            bail!("--register needs --server (or HAWKBIT_URL)")
        };
        let credentials = Credentials {
            user: cli.user.clone(),
            password: password(&cli)?,
        };
        Some(Registrar::new(server, credentials)?)
    } else {
        None
    };
    let plan = Plan {
        devices,
        output: match cli.output {
            Mode::Files => Output::Files,
            Mode::Partition => Output::Partition,
            Mode::Image => Output::Image,
        },
        out_dir: cli.out.clone(),
        image: cli.image.clone(),
        partition: cli.partition.clone(),
        server: cli.server.clone(),
        secrets_file: cli.secrets_file.clone(),
    };
    let done = provision::provision(&plan, registrar.as_ref())?;
    for p in &done {
        let token = if cli.show_secrets {
            p.token.expose().to_owned()
        } else {
            "<hidden>".into()
        };
        println!(
            "{}\t{}\t{}\t{}\ttoken {}",
            p.device.serial,
            p.device.hardware_revision,
            if p.registered {
                "registered"
            } else {
                "not registered"
            },
            p.output.display(),
            token
        );
    }
    eprintln!("provision-devices: {} device(s) provisioned", done.len());
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("provision-devices: {e:#}");
            ExitCode::FAILURE
        }
    }
}
