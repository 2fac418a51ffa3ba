//! The real RAUC service for tests: `dbus-daemon` with a private bus,
//! `rauc service` on it (RAUC 1.8 talks to the session bus when
//! `DBUS_STARTER_BUS_TYPE=session`), two file-backed `raw` slots, and a
//! `custom` bootloader backend script that keeps its state in a text file,
//! so a test can read it, or change it to play the bootloader falling back.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the simulated device looks like.
#[derive(Debug, Clone)]
pub struct RaucConfig {
    /// `[system] compatible`.
    pub compatible: String,
    /// Keyring file.
    pub keyring: PathBuf,
    /// Size of each slot file.
    pub slot_size: usize,
    /// Bootname the service believes it booted from.
    pub booted: String,
}

/// A running service; stopped when dropped.
pub struct RaucService {
    dir: PathBuf,
    cfg: RaucConfig,
    dbus: Child,
    rauc: Option<Child>,
}

const BACKEND: &str = r#"#!/bin/sh
# RAUC custom bootloader backend for tests: state in a text file.
S="$(dirname "$0")/bootstate"
echo "$*" >> "$(dirname "$0")/bootloader.log"
case "$1" in
  get-primary) sed -n 's/^PRIMARY=//p' "$S" ;;
  set-primary) sed -i -e "s/^PRIMARY=.*/PRIMARY=$2/" -e "s/^STATE_$2=.*/STATE_$2=good/" "$S" ;;
  get-state) sed -n "s/^STATE_$2=//p" "$S" ;;
  set-state) sed -i "s/^STATE_$2=.*/STATE_$2=$3/" "$S" ;;
  *) exit 1 ;;
esac
"#;

impl RaucService {
    /// Lays out the device in `dir` (slot A filled with 0xaa, slot B with
    /// zeros) and starts the bus and the service.
    pub fn start(dir: &Path, cfg: RaucConfig) -> RaucService {
        for d in ["mnt", "data"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::fs::write(dir.join("slot-a.img"), vec![0xaa; cfg.slot_size]).unwrap();
        std::fs::write(dir.join("slot-b.img"), vec![0u8; cfg.slot_size]).unwrap();
        std::fs::write(
            dir.join("bootstate"),
            format!(
                "PRIMARY={}\nSTATE_system0=good\nSTATE_system1=good\n",
                cfg.booted
            ),
        )
        .unwrap();
        let backend = dir.join("bootloader.sh");
        std::fs::write(&backend, BACKEND).unwrap();
        std::fs::set_permissions(&backend, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            dir.join("system.conf"),
            format!(
                "[system]\ncompatible={c}\nbootloader=custom\nmountprefix={w}/mnt\ndata-directory={w}/data\n\n\
[handlers]\nbootloader-custom-backend={w}/bootloader.sh\n\n[keyring]\npath={k}\ncheck-purpose=codesign\n\n\
[slot.rootfs.0]\ndevice={w}/slot-a.img\ntype=raw\nbootname=system0\n\n\
[slot.rootfs.1]\ndevice={w}/slot-b.img\ntype=raw\nbootname=system1\n",
                c = cfg.compatible,
                w = dir.display(),
                k = cfg.keyring.display()
            ),
        )
        .unwrap();
        let dbus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address=unix:path={}/bus", dir.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian package dbus) is needed; ci/test installs it");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dir.join("bus").exists() {
            assert!(Instant::now() < deadline, "dbus-daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut svc = RaucService {
            dir: dir.to_path_buf(),
            cfg,
            dbus,
            rauc: None,
        };
        svc.start_service();
        svc
    }

    fn start_service(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("service.log"))
            .unwrap();
        let rauc = Command::new("rauc")
            .env("DBUS_SESSION_BUS_ADDRESS", self.bus_address())
            .env("DBUS_STARTER_BUS_TYPE", "session")
            .arg(format!("--conf={}/system.conf", self.dir.display()))
            .arg("service")
            .arg(format!("--override-boot-slot={}", self.cfg.booted))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("rauc (Debian packages rauc, rauc-service) is needed; ci/test installs it");
        self.rauc = Some(rauc);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.client().arg("status").output().unwrap();
            if out.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "rauc service did not come up: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Restarts the service as if the device had booted `bootname`.
    pub fn reboot_into(&mut self, bootname: &str) {
        if let Some(mut r) = self.rauc.take() {
            let _ = r.kill();
            let _ = r.wait();
        }
        self.cfg.booted = bootname.to_string();
        self.start_service();
    }

    /// The D-Bus address of the private bus.
    pub fn bus_address(&self) -> String {
        format!("unix:path={}/bus", self.dir.display())
    }

    /// A `rauc` client command talking to this service.
    pub fn client(&self) -> Command {
        let mut c = Command::new("rauc");
        c.env("DBUS_SESSION_BUS_ADDRESS", self.bus_address())
            .env("DBUS_STARTER_BUS_TYPE", "session")
            .arg(format!("--conf={}/system.conf", self.dir.display()));
        c
    }

    /// Slot file `n` (0 = A, 1 = B).
    pub fn slot(&self, n: usize) -> PathBuf {
        self.dir
            .join(if n == 0 { "slot-a.img" } else { "slot-b.img" })
    }

    /// The bootloader backend's state file.
    pub fn bootstate(&self) -> String {
        std::fs::read_to_string(self.dir.join("bootstate")).unwrap_or_default()
    }

    /// Everything the service logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("service.log")).unwrap_or_default()
    }
}

impl Drop for RaucService {
    fn drop(&mut self) {
        if let Some(mut r) = self.rauc.take() {
            let _ = r.kill();
            let _ = r.wait();
        }
        let _ = self.dbus.kill();
        let _ = self.dbus.wait();
    }
}
