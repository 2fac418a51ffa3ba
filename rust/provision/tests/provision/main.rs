//! provision-devices end to end: the binary on device lists, on a real
//! disk image (sfdisk, mkfs.vfat, mkfs.ext4, read back with mtools and
//! debugfs, and through the layer's own first-boot script), and
//! pre-registration against the real hawkbit-compat-server.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use provision::envfile;

mod server;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_provision-devices")
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("HAWKBIT_URL")
        .env_remove("HAWKBIT_USER")
        .env_remove("HAWKBIT_PASSWORD");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("provision-devices runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, content).unwrap();
    p
}

fn sh(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap_or_else(|e| {
            panic!("{program}: {e} (the test needs dosfstools, mtools, fdisk, e2fsprogs)")
        });
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        text(&out.stderr)
    );
    out
}

#[test]
fn bad_lines_are_reported_with_their_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "devices.csv",
        "serial,hardware_revision\nSN-1,rev-a\nSN 2,rev-a\nSN-3\nSN-4,rev-c\nSN-1,rev-b\n,rev-a\n\"SN-5,rev-a\n00000000,rev-b\n",
    );
    let out = run(
        &[
            "--devices",
            csv.to_str().unwrap(),
            "--out",
            dir.path().join("out").to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    for expected in [
        "7 bad line(s)",
        "line 3: the serial 'SN 2' contains ' '",
        "line 4: expected 2 fields (serial,hardware revision), found 1",
        "line 5: unknown hardware revision 'rev-c' (expected rev-a or rev-b)",
        "line 6: serial 'SN-1' already listed on line 2",
        "line 7: the serial is empty",
        "line 8: unbalanced quote",
        "line 9: '00000000' is a firmware placeholder",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(
        !dir.path()
            .join("out")
            .join("SN-1.provisioning.env")
            .exists(),
        "nothing is written for a bad list"
    );

    let empty = write(dir.path(), "empty.csv", "# nothing yet\nserial,revision\n");
    let out = run(
        &[
            "--devices",
            empty.to_str().unwrap(),
            "--out",
            dir.path().join("out").to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("has no devices"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn files_are_written_private_complete_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "devices.csv", "SN-0001,rev-a\nSN-0002,B\n");
    let out_dir = dir.path().join("out");
    let secrets = dir.path().join("secrets.csv");
    let args = [
        "--devices",
        csv.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--server",
        "https://updates.example.com",
        "--secrets-file",
        secrets.to_str().unwrap(),
    ];
    let out = run(&args, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let mut tokens = Vec::new();
    for (serial, rev) in [("SN-0001", "rev-a"), ("SN-0002", "rev-b")] {
        let path = out_dir.join(format!("{serial}.provisioning.env"));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let content = fs::read_to_string(&path).unwrap();
        let kv = envfile::parse(&content);
        assert_eq!(
            kv.keys().map(String::as_str).collect::<Vec<_>>(),
            ["HARDWARE_REVISION", "SERIAL", "TARGET_TOKEN"]
        );
        assert_eq!(kv["SERIAL"], serial);
        assert_eq!(kv["HARDWARE_REVISION"], rev);
        assert!(content.contains("# registered on https://updates.example.com"));
        let token = kv["TARGET_TOKEN"].clone();
        assert_eq!(token.len(), 64);
        assert!(
            !text(&out.stdout).contains(&token) && !text(&out.stderr).contains(&token),
            "token printed"
        );
        tokens.push(token);
    }
    assert_ne!(tokens[0], tokens[1]);
    assert!(text(&out.stdout).contains("<hidden>"));
    let secrets_text = fs::read_to_string(&secrets).unwrap();
    assert_eq!(
        fs::metadata(&secrets).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        secrets_text,
        format!(
            "controllerId,securityToken\nSN-0001,{}\nSN-0002,{}\n",
            tokens[0], tokens[1]
        )
    );
    let leftovers: Vec<_> = fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // A second run would hand out new tokens: refused, files unchanged.
    let again = run(&args, &[]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );
    let kv = envfile::parse(&fs::read_to_string(out_dir.join("SN-0001.provisioning.env")).unwrap());
    assert_eq!(kv["TARGET_TOKEN"], tokens[0]);

    // --show-secrets prints them.
    let csv3 = write(dir.path(), "three.csv", "SN-0003,rev-a\n");
    let shown = run(
        &[
            "--devices",
            csv3.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--show-secrets",
        ],
        &[],
    );
    assert!(shown.status.success());
    let kv = envfile::parse(&fs::read_to_string(out_dir.join("SN-0003.provisioning.env")).unwrap());
    assert!(text(&shown.stdout).contains(&kv["TARGET_TOKEN"]));
}

/// A 24 MiB GPT disk: 1 esp (FAT), 2 bootenv (FAT, with a grubenv), 3 data (ext4).
fn make_disk(dir: &Path) -> PathBuf {
    let disk = dir.join("factory.wic");
    fs::File::create(&disk).unwrap().set_len(24 << 20).unwrap();
    let layout = "label: gpt\nsize=4MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp\n\
                  size=8MiB, name=bootenv\nsize=8MiB, name=data\n";
    let mut child = Command::new("sfdisk")
        .args(["-q", disk.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sfdisk (package fdisk)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(layout.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let parts = provision::gpt::partitions(&disk).unwrap();
    let offset = |name: &str| parts.iter().find(|p| p.name == name).unwrap().offset();

    let bootenv = dir.join("bootenv.vfat");
    sh(
        "mkfs.vfat",
        &["-n", "BOOTENV", "-C", bootenv.to_str().unwrap(), "8192"],
    );
    let grubenv = write(dir, "grubenv", "# GRUB Environment Block\nORDER=A B\n");
    sh(
        "mcopy",
        &[
            "-i",
            bootenv.to_str().unwrap(),
            grubenv.to_str().unwrap(),
            "::/grubenv",
        ],
    );
    let data = dir.join("data.ext4");
    sh(
        "mkfs.ext4",
        &["-q", "-F", "-L", "data", data.to_str().unwrap(), "8M"],
    );
    let mut f = fs::OpenOptions::new().write(true).open(&disk).unwrap();
    for (name, img) in [("bootenv", &bootenv), ("data", &data)] {
        f.seek(SeekFrom::Start(offset(name))).unwrap();
        f.write_all(&fs::read(img).unwrap()).unwrap();
    }
    disk
}

/// Runs the layer's first-boot script on `factory_file`; returns what it
/// wrote for the agent and RAUC.
fn first_boot(dir: &Path, factory_file: &Path) -> (String, String, String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../meta-example/recipes-core/provisioning/files/example-provision");
    let data = dir.join("device-data");
    fs::create_dir_all(&data).unwrap();
    let out = Command::new("sh")
        .arg(&script)
        .env("EXAMPLE_DATA_DIR", &data)
        .env("EXAMPLE_FACTORY_FILES", factory_file)
        .env("EXAMPLE_SYSFS_ROOT", dir.join("no-sysfs"))
        .env("EXAMPLE_GRUBENV", dir.join("no-grubenv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "example-provision: {}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("ignoring unknown key"),
        "{}",
        text(&out.stderr)
    );
    let read = |p: &str| {
        fs::read_to_string(data.join(p))
            .unwrap()
            .trim_end()
            .to_owned()
    };
    (
        read("provisioning/serial"),
        read("provisioning/hardware-revision"),
        read("update-agent/controller-id"),
        read("update-agent/target-token"),
    )
}

#[test]
fn image_round_trip_through_fat_and_ext4_and_the_first_boot_script() {
    let dir = tempfile::tempdir().unwrap();
    let disk = make_disk(dir.path());
    let original = fs::read(&disk).unwrap();
    let csv = write(
        dir.path(),
        "devices.csv",
        "serial,revision\nQEMU-0001,rev-a\nQEMU-0002,rev-b\n",
    );

    // Whole per-device images, file on the bootenv partition (FAT).
    let images = dir.path().join("images");
    let out = run(
        &[
            "--devices",
            csv.to_str().unwrap(),
            "--out",
            images.to_str().unwrap(),
            "--output",
            "image",
            "--image",
            disk.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fs::read(&disk).unwrap(),
        original,
        "the factory image must stay untouched"
    );
    let parts = provision::gpt::partitions(&disk).unwrap();
    let bootenv = parts.iter().find(|p| p.name == "bootenv").unwrap();
    for (serial, rev) in [("QEMU-0001", "rev-a"), ("QEMU-0002", "rev-b")] {
        let img = images.join(format!("{serial}.img"));
        assert_eq!(fs::metadata(&img).unwrap().len(), original.len() as u64);
        assert_eq!(
            fs::metadata(&img).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let at = format!("{}@@{}", img.display(), bootenv.offset());
        let content = text(&sh("mtype", &["-i", &at, "::/provisioning.env"]).stdout);
        // The rest of the partition is intact.
        assert!(text(&sh("mtype", &["-i", &at, "::/grubenv"]).stdout).contains("ORDER=A B"));
        let kv = envfile::parse(&content);
        assert_eq!(
            (kv["SERIAL"].as_str(), kv["HARDWARE_REVISION"].as_str()),
            (serial, rev)
        );
        let extracted = write(dir.path(), &format!("{serial}.env"), &content);
        let (s, r, id, token) = first_boot(&dir.path().join(serial), &extracted);
        assert_eq!((s.as_str(), r.as_str(), id.as_str()), (serial, rev, serial));
        assert_eq!(token, kv["TARGET_TOKEN"]);
    }

    // Partition images of the data partition (ext4): /factory/provisioning.env.
    let parts_dir = dir.path().join("partitions");
    let csv2 = write(dir.path(), "more.csv", "QEMU-0003,1\n");
    let out = run(
        &[
            "--devices",
            csv2.to_str().unwrap(),
            "--out",
            parts_dir.to_str().unwrap(),
            "--output",
            "partition",
            "--partition",
            "data",
            "--image",
            disk.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let img = parts_dir.join("QEMU-0003.data.img");
    let data = parts.iter().find(|p| p.name == "data").unwrap();
    assert_eq!(fs::metadata(&img).unwrap().len(), data.size());
    let content = text(
        &sh(
            "debugfs",
            &["-R", "cat /factory/provisioning.env", img.to_str().unwrap()],
        )
        .stdout,
    );
    let kv = envfile::parse(&content);
    assert_eq!(
        (kv["SERIAL"].as_str(), kv["HARDWARE_REVISION"].as_str()),
        ("QEMU-0003", "rev-a")
    );
    let stat = text(
        &sh(
            "debugfs",
            &[
                "-R",
                "stat /factory/provisioning.env",
                img.to_str().unwrap(),
            ],
        )
        .stdout,
    );
    assert!(
        stat.contains("Mode:  0600") || stat.contains("Mode:  0600 "),
        "{stat}"
    );
    sh("e2fsck", &["-n", "-f", img.to_str().unwrap()]);

    // A partition that is not there, named with what is.
    let out = run(
        &[
            "--devices",
            csv2.to_str().unwrap(),
            "--out",
            dir.path().join("x").to_str().unwrap(),
            "--output",
            "image",
            "--partition",
            "boot",
            "--image",
            disk.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no partition named 'boot' (found: esp, bootenv, data)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn devices_are_registered_on_the_real_server() {
    let server = server::Server::start();
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "devices.csv", "FAB-1,rev-a\nFAB-2,rev-b\n");
    let out_dir = dir.path().join("out");
    let password = write(
        dir.path(),
        "password",
        &format!("{}\n", server::ADMIN_PASSWORD),
    );
    let base = [
        "--devices",
        csv.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--register",
        "--server",
        &server.base,
    ];

    // Wrong password: refused before anything is written.
    let out = run(&base, &[("HAWKBIT_PASSWORD", "wrong-password")]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("refused the credentials (HTTP 401)"),
        "{}",
        text(&out.stderr)
    );
    assert!(!out_dir.join("FAB-1.provisioning.env").exists());

    let mut args = base.to_vec();
    args.extend(["--password-file", password.to_str().unwrap()]);
    let out = run(&args, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for serial in ["FAB-1", "FAB-2"] {
        let kv = envfile::parse(
            &fs::read_to_string(out_dir.join(format!("{serial}.provisioning.env"))).unwrap(),
        );
        let target = server.target(serial).expect("target exists");
        assert_eq!(target["controllerId"], serial);
        assert_eq!(target["name"], serial);
        assert_eq!(
            target["securityToken"],
            kv["TARGET_TOKEN"].as_str(),
            "the server knows the device's token"
        );
        // The device authenticates with it on the DDI API.
        assert_eq!(server.ddi_poll_status(serial, &kv["TARGET_TOKEN"]), 200);
        assert_eq!(
            server.ddi_poll_status(serial, "not-the-token-of-this-device"),
            401
        );
    }

    // Registering a device twice fails clearly, naming it.
    let csv2 = write(dir.path(), "again.csv", "FAB-3,rev-a\nFAB-1,rev-a\n");
    let out_dir2 = dir.path().join("out2");
    let out = run(
        &[
            "--devices",
            csv2.to_str().unwrap(),
            "--out",
            out_dir2.to_str().unwrap(),
            "--register",
            "--server",
            &server.base,
        ],
        &[("HAWKBIT_PASSWORD", server::ADMIN_PASSWORD)],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("after 1 of 2 device(s): FAB-1: target already exists"),
        "{err}"
    );
    assert!(out_dir2.join("FAB-3.provisioning.env").exists());
    assert!(!out_dir2.join("FAB-1.provisioning.env").exists());
}
