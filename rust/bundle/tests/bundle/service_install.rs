//! A plain bundle made by this crate is installed by the real `rauc service`
//! into a file-backed slot (private D-Bus, custom bootloader backend, no
//! systemd), and the slot then holds exactly the image.

use crate::helpers::*;
use crate::pki::Pki;
use ota_bundle::Format;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Service {
    dbus: Child,
    rauc: Child,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.rauc.kill();
        let _ = self.rauc.wait();
        let _ = self.dbus.kill();
        let _ = self.dbus.wait();
    }
}

fn rauc_client(w: &Path) -> Command {
    let mut c = Command::new("rauc");
    c.env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}/bus", w.display()))
        .env("DBUS_STARTER_BUS_TYPE", "session")
        .arg(format!("--conf={}/system.conf", w.display()));
    c
}

fn start(w: &Path, keyring: &Path) -> Service {
    for d in ["mnt", "data"] {
        std::fs::create_dir_all(w.join(d)).unwrap();
    }
    std::fs::write(w.join("slot-a.img"), vec![0xaa; 2 << 20]).unwrap();
    std::fs::write(w.join("slot-b.img"), vec![0u8; 2 << 20]).unwrap();
    std::fs::write(w.join("bootstate"), "PRIMARY=system0\nSTATE_system0=good\nSTATE_system1=good\n").unwrap();
    let backend = w.join("bootloader.sh");
    std::fs::write(
        &backend,
        format!(
            r#"#!/bin/sh
S={}/bootstate
case "$1" in
  get-primary) sed -n 's/^PRIMARY=//p' "$S" ;;
  set-primary) sed -i -e "s/^PRIMARY=.*/PRIMARY=$2/" -e "s/^STATE_$2=.*/STATE_$2=good/" "$S" ;;
  get-state) sed -n "s/^STATE_$2=//p" "$S" ;;
  set-state) sed -i "s/^STATE_$2=.*/STATE_$2=$3/" "$S" ;;
  *) exit 1 ;;
esac
"#,
            w.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&backend, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        w.join("system.conf"),
        format!(
            "[system]\ncompatible={COMPATIBLE}\nbootloader=custom\nmountprefix={w}/mnt\ndata-directory={w}/data\n\n\
[handlers]\nbootloader-custom-backend={w}/bootloader.sh\n\n[keyring]\npath={k}\ncheck-purpose=codesign\n\n\
[slot.rootfs.0]\ndevice={w}/slot-a.img\ntype=raw\nbootname=system0\n\n\
[slot.rootfs.1]\ndevice={w}/slot-b.img\ntype=raw\nbootname=system1\n",
            w = w.display(),
            k = keyring.display()
        ),
    )
    .unwrap();
    let dbus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--nopidfile"])
        .arg(format!("--address=unix:path={}/bus", w.display()))
        .stdout(Stdio::null())
        .spawn()
        .expect("dbus-daemon (package dbus) is needed; ci/test installs it");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !w.join("bus").exists() {
        assert!(Instant::now() < deadline, "dbus-daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::File::create(w.join("service.log")).unwrap();
    let rauc = Command::new("rauc")
        .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}/bus", w.display()))
        .env("DBUS_STARTER_BUS_TYPE", "session")
        .arg(format!("--conf={}/system.conf", w.display()))
        .args(["service", "--override-boot-slot=system0"])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("rauc (packages rauc, rauc-service) is needed; ci/test installs it");
    let svc = Service { dbus, rauc };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = rauc_client(w).arg("status").output().unwrap();
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rauc service did not come up: {}",
            std::fs::read_to_string(w.join("service.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    svc
}

#[test]
fn real_rauc_service_installs_our_plain_bundle_into_a_file_slot() {
    let pki = Pki::new();
    let c = content(Format::Plain, "");
    let w = tmp();
    let bundle = w.path().join("update.raucb");
    build(&c, &bundle, &signer(&pki.signer, &pki));
    let _svc = start(w.path(), pki.keyring());
    let out = run(rauc_client(w.path()).arg("install").arg(&bundle));
    assert!(
        out.status.success(),
        "rauc install failed: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(w.path().join("service.log")).unwrap_or_default()
    );
    let slot = std::fs::read(w.path().join("slot-b.img")).unwrap();
    let img = image(1 << 20, 7);
    assert_eq!(&slot[..img.len()], &img[..], "slot B holds the image");
    assert_eq!(std::fs::read(w.path().join("slot-a.img")).unwrap(), vec![0xaa; 2 << 20], "slot A untouched");
    let state = std::fs::read_to_string(w.path().join("bootstate")).unwrap();
    assert!(state.contains("PRIMARY=system1"), "{state}");
    let status = run_ok(rauc_client(w.path()).args(["status", "--detailed", "--output-format=json"]));
    assert!(status.contains("\"bundle.version\":\"2.0.0\"") || status.contains("2.0.0"), "{status}");
}
