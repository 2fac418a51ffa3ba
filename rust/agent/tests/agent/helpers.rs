use ota_bundle::{Content, CreateOptions, Format, NoProgress, Signer};
use ota_testkit::data::image;
use ota_testkit::pki::Pki;
use ota_testkit::rauc::{RaucConfig, RaucService};
use std::path::{Path, PathBuf};

pub const COMPATIBLE: &str = "Example Device";

/// A simulated device: RAUC service with two file slots, plus a PKI.
pub struct Device {
    pub pki: Pki,
    pub dir: tempfile::TempDir,
    pub rauc: RaucService,
}

impl Device {
    pub fn new() -> Device {
        let pki = Pki::new();
        let dir = tempfile::tempdir().unwrap();
        let rauc = RaucService::start(
            dir.path(),
            RaucConfig {
                compatible: COMPATIBLE.into(),
                keyring: pki.keyring().to_path_buf(),
                slot_size: 10 << 20,
                booted: "system0".into(),
            },
        );
        Device { pki, dir, rauc }
    }

    pub fn bus(&self) -> update_agent::installer::Bus {
        update_agent::installer::Bus::Address(self.rauc.bus_address())
    }

    /// A plain bundle with a 1 MiB image (seed decides the content).
    pub fn bundle(&self, name: &str, version: &str, compatible: &str, seed: u64) -> PathBuf {
        self.bundle_with(name, version, compatible, &image(1 << 20, seed))
    }

    /// A plain bundle signed by another PKI's signer.
    pub fn bundle_signed_by(&self, name: &str, version: &str, pki: &Pki, seed: u64) -> PathBuf {
        self.build(name, version, COMPATIBLE, &image(1 << 20, seed), pki)
    }

    /// A plain bundle carrying `img` as the rootfs image.
    pub fn bundle_with(&self, name: &str, version: &str, compatible: &str, img: &[u8]) -> PathBuf {
        self.build(name, version, compatible, img, &self.pki)
    }

    fn build(&self, name: &str, version: &str, compatible: &str, img: &[u8], pki: &Pki) -> PathBuf {
        let content = self.dir.path().join(format!("content-{name}"));
        std::fs::create_dir_all(&content).unwrap();
        std::fs::write(content.join("rootfs.img"), img).unwrap();
        std::fs::write(
            content.join("manifest.raucm"),
            format!("[update]\ncompatible={compatible}\nversion={version}\n\n[image.rootfs]\nfilename=rootfs.img\n"),
        )
        .unwrap();
        let out = self.dir.path().join(name);
        let signer = Signer::load(
            pki.signer.cert(),
            pki.signer.key(),
            std::slice::from_ref(&pki.inter.cert_path),
        )
        .unwrap();
        ota_bundle::create(
            &Content::from_dir(&content).unwrap(),
            &out,
            &CreateOptions {
                signer: &signer,
                format: Some(Format::Plain),
                squashfs: Default::default(),
                verify: None,
            },
            &mut NoProgress,
        )
        .unwrap();
        out
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub fn slot_holds(path: &Path, data: &[u8]) -> bool {
    let slot = std::fs::read(path).unwrap();
    slot.len() >= data.len() && &slot[..data.len()] == data
}

/// Agent configuration for a test device talking to `server`.
pub fn config(
    dev: &Device,
    server: &str,
    controller: &str,
    token: &str,
    extra: &str,
) -> update_agent::config::Config {
    let token_file = dev.path(&format!("{controller}.token"));
    std::fs::write(&token_file, token).unwrap();
    let text = format!(
        r#"
[server]
url = "{server}"
controller_id = "{controller}"
token_file = "{token}"
poll_interval = "1m"
backoff_max = "10m"
request_timeout = "5s"

[device]
attributes = {{ hw_revision = "rev-a" }}

[install]
state_dir = "{state}"
rauc_bus = "{bus}"
min_free_bytes = 0

[reboot]
command = ["touch", "{rebooted}"]
{extra}
"#,
        token = token_file.display(),
        state = dev.path("agent-state").display(),
        bus = dev.rauc.bus_address(),
        rebooted = dev.path("rebooted").display(),
    );
    update_agent::config::Config::parse(&text, Path::new("test.toml")).unwrap()
}

pub async fn daemon(cfg: update_agent::config::Config) -> update_agent::daemon::Daemon {
    update_agent::daemon::Daemon::build(cfg).await.unwrap()
}

/// Reads and clears the "device rebooted" flag the test reboot command sets.
pub fn took_reboot(dev: &Device) -> bool {
    std::fs::remove_file(dev.path("rebooted")).is_ok()
}
