use ota_bundle::{
    Bundle, BundleInfo, Content, CreateOptions, Format, Keyring, NoProgress, Purpose, Signer,
    VerifyOptions,
};
use ota_testkit::pki::{Identity, Pki};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const COMPATIBLE: &str = "Test Device";

/// Runs a command and returns its output, failing the test with the
/// command's name if it cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run {:?} (ci/test installs it): {e}",
            cmd.get_program()
        )
    });
    out
}

/// Runs a command that must succeed.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{:?} failed: {}\n{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub use ota_testkit::data::{image, noise};

pub struct ContentDir {
    pub dir: tempfile::TempDir,
}

impl ContentDir {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    }
}

/// A content directory with one rootfs image and the given manifest extra
/// (appended after `[update]`).
pub fn content(format: Format, extra: &str) -> ContentDir {
    let dir = tempfile::tempdir().unwrap();
    let c = ContentDir { dir };
    c.write("rootfs.img", &image(1 << 20, 7));
    let bundle = match format {
        Format::Plain => String::new(),
        f => format!("[bundle]\nformat={f}\n\n"),
    };
    c.write(
        "manifest.raucm",
        format!(
            "[update]\ncompatible={COMPATIBLE}\nversion=2.0.0\ndescription=test bundle\nbuild=20261129\n\n{bundle}[image.rootfs]\nfilename=rootfs.img\n{extra}"
        )
        .as_bytes(),
    );
    c
}

pub fn signer(id: &Identity, pki: &Pki) -> Signer {
    Signer::load(
        id.cert(),
        id.key(),
        std::slice::from_ref(&pki.inter.cert_path),
    )
    .unwrap()
}

pub fn opts(pki: &Pki) -> VerifyOptions {
    let mut o = VerifyOptions::new(Keyring::load(pki.keyring()).unwrap());
    o.purpose = Purpose::Codesign;
    o
}

pub fn build(content: &ContentDir, out: &Path, signer: &Signer) -> ota_bundle::Manifest {
    let c = Content::from_dir(content.path()).unwrap();
    ota_bundle::create(
        &c,
        out,
        &CreateOptions {
            signer,
            format: None,
            squashfs: Default::default(),
            verify: None,
        },
        &mut NoProgress,
    )
    .unwrap()
}

pub fn verify(path: &Path, o: &VerifyOptions) -> ota_bundle::Result<BundleInfo> {
    Bundle::open(path)?.verify(o, true, &mut NoProgress)
}

/// A system.conf for `rauc info/extract --conf`, trusting `keyring`.
pub fn rauc_conf(dir: &Path, keyring: &Path, purpose: Option<&str>) -> PathBuf {
    let p = dir.join("system.conf");
    let purpose = purpose
        .map(|p| format!("check-purpose={p}\n"))
        .unwrap_or_default();
    std::fs::write(
        &p,
        format!(
            "[system]\ncompatible={COMPATIBLE}\nbootloader=noop\n\n[keyring]\npath={}\n{purpose}",
            keyring.display()
        ),
    )
    .unwrap();
    p
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}
