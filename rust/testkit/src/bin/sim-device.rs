//! `sim-device`: a simulated device for demos and end-to-end scripts.
//!
//! It runs what a real device runs, minus the hardware: the real
//! `rauc service` on a private D-Bus with two file-backed slots and a
//! scriptable bootloader (see `ota_testkit::rauc`), and the real
//! `update-agent`. When the agent asks for a reboot (its reboot command
//! creates `DIR/reboot-request`), the device "reboots": the agent is stopped,
//! RAUC is restarted as if booted from the bootloader's primary slot, and the
//! agent is started again.
//!
//! ```text
//! sim-device DIR --keyring ROOT.pem --compatible STRING --agent BIN --agent-config FILE
//! ```
//! The agent configuration should use `rauc_bus = "unix:path=DIR/bus"` and
//! `reboot.command = ["touch", "DIR/reboot-request"]`. Runs until SIGTERM or
//! Ctrl-C; writes `DIR/ready` once the device is up and `DIR/boots` (one
//! bootname per line) on every boot.

use ota_testkit::rauc::{RaucConfig, RaucService};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct Args {
    dir: PathBuf,
    keyring: PathBuf,
    compatible: String,
    agent: PathBuf,
    agent_config: PathBuf,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let dir = it.next().ok_or(
        "usage: sim-device DIR --keyring PEM --compatible S --agent BIN --agent-config FILE",
    )?;
    let (mut keyring, mut compatible, mut agent, mut agent_config) = (None, None, None, None);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--keyring" => keyring = Some(PathBuf::from(value)),
            "--compatible" => compatible = Some(value),
            "--agent" => agent = Some(PathBuf::from(value)),
            "--agent-config" => agent_config = Some(PathBuf::from(value)),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Args {
        dir: PathBuf::from(dir),
        keyring: keyring.ok_or("--keyring is required")?,
        compatible: compatible.ok_or("--compatible is required")?,
        agent: agent.ok_or("--agent is required")?,
        agent_config: agent_config.ok_or("--agent-config is required")?,
    })
}

fn start_agent(a: &Args) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(a.dir.join("agent.log"))
        .expect("agent log");
    Command::new(&a.agent)
        .arg("--config")
        .arg(&a.agent_config)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", a.agent.display()))
}

fn record_boot(a: &Args, bootname: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(a.dir.join("boots"))
        .expect("boots file");
    let _ = writeln!(f, "{bootname}");
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sim-device: {e}");
            std::process::exit(2);
        }
    };
    std::fs::create_dir_all(&a.dir).expect("device directory");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .expect("installing the SIGTERM/SIGINT handler");
    let mut rauc = RaucService::start(
        &a.dir,
        RaucConfig {
            compatible: a.compatible.clone(),
            keyring: a.keyring.clone(),
            slot_size: 64 << 20,
            booted: "system0".into(),
        },
    );
    record_boot(&a, "system0");
    let mut agent = start_agent(&a);
    std::fs::write(a.dir.join("ready"), b"").expect("ready file");
    let request = a.dir.join("reboot-request");
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        if std::fs::remove_file(&request).is_ok() {
            let _ = agent.kill();
            let _ = agent.wait();
            let primary = rauc
                .bootstate()
                .lines()
                .find_map(|l| l.strip_prefix("PRIMARY=").map(str::to_string))
                .unwrap_or_else(|| "system0".into());
            eprintln!("sim-device: rebooting into {primary}");
            rauc.reboot_into(&primary);
            record_boot(&a, &primary);
            agent = start_agent(&a);
        }
        if let Ok(Some(status)) = agent.try_wait() {
            eprintln!(
                "sim-device: update-agent exited ({status}); restarting it like systemd would"
            );
            std::thread::sleep(Duration::from_secs(1));
            agent = start_agent(&a);
        }
    }
    let _ = agent.kill();
    let _ = agent.wait();
}
