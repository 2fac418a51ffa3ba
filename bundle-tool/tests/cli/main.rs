//! Black-box tests of the `bundle-tool` binary: every subcommand, the
//! JSON output against `rauc info`'s, and the documented exit codes.

use ota_testkit::data::image;
use ota_testkit::pki::Pki;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Env {
    pki: Pki,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            pki: Pki::new(),
            dir: tempfile::tempdir().unwrap(),
        };
        let c = env.p("content");
        std::fs::create_dir(&c).unwrap();
        std::fs::write(c.join("rootfs.img"), image(256 * 4096, 1)).unwrap();
        std::fs::write(
            c.join("manifest.raucm"),
            "[update]\ncompatible=Test Device\nversion=3.1.0\n\n[bundle]\nformat=verity\n\n[image.rootfs]\nfilename=rootfs.img\n",
        )
        .unwrap();
        env
    }
    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn keyring(&self) -> String {
        format!("--keyring={}", self.pki.keyring().display())
    }
    fn create(&self, out: &str) -> Output {
        tool(&[
            "create",
            &format!("--cert={}", self.pki.signer.cert()),
            &format!("--key={}", self.pki.signer.key()),
            &format!("--intermediate={}", self.pki.inter.cert()),
            &self.keyring(),
            self.p("content").to_str().unwrap(),
            self.p(out).to_str().unwrap(),
        ])
    }
}

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bundle-tool"))
        .args(args)
        .env_remove("BUNDLE_TOOL_KEYRING")
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn create_info_verify_extract() {
    let env = Env::new();
    ok(env.create("b.raucb"));
    let b = env.p("b.raucb");
    let text = ok(tool(&["info", &env.keyring(), b.to_str().unwrap()]));
    assert!(text.contains("Compatible: \t'Test Device'"), "{text}");
    assert!(text.contains("Bundle Format: \tverity"), "{text}");
    assert!(
        text.contains("Subject: O = Test Org, CN = Test Development Signer"),
        "{text}"
    );

    let json: serde_json::Value = serde_json::from_str(&ok(tool(&[
        "info",
        "--output-format=json",
        &env.keyring(),
        b.to_str().unwrap(),
    ])))
    .unwrap();
    assert_eq!(json["version"], "3.1.0");
    assert_eq!(json["format"], "verity");
    assert_eq!(json["signature"]["verified"], true);

    // The fields rauc reports are the same.
    let conf = env.p("system.conf");
    std::fs::write(
        &conf,
        format!(
            "[system]\ncompatible=Test Device\nbootloader=noop\n[keyring]\npath={}\ncheck-purpose=codesign\n",
            env.pki.keyring().display()
        ),
    )
    .unwrap();
    let rauc = Command::new("rauc")
        .arg(format!("--conf={}", conf.display()))
        .args(["info", "--output-format=json"])
        .arg(&b)
        .output()
        .unwrap();
    let theirs: serde_json::Value = serde_json::from_str(&ok(rauc)).unwrap();
    for (k, v) in theirs.as_object().unwrap() {
        assert_eq!(&json[k], v, "field {k}");
    }

    let v = ok(tool(&[
        "verify",
        "--check-images",
        &env.keyring(),
        b.to_str().unwrap(),
    ]));
    assert!(
        v.contains("OK (signature, verity hash tree, images checked)"),
        "{v}"
    );
    ok(tool(&[
        "extract",
        &env.keyring(),
        b.to_str().unwrap(),
        env.p("x").to_str().unwrap(),
    ]));
    assert_eq!(
        std::fs::read(env.p("x/rootfs.img")).unwrap(),
        image(256 * 4096, 1)
    );
}

#[test]
fn create_from_image_flags() {
    let env = Env::new();
    let out = tool(&[
        "create",
        &format!("--cert={}", env.pki.signer.cert()),
        &format!("--key={}", env.pki.signer.key()),
        &format!("--intermediate={}", env.pki.inter.cert()),
        "--compatible=Test Device",
        "--version=4.0.0",
        "--format=verity",
        "--adaptive",
        &format!("--image=rootfs={}", env.p("content/rootfs.img").display()),
        env.p("i.raucb").to_str().unwrap(),
    ]);
    ok(out);
    let json: serde_json::Value = serde_json::from_str(&ok(tool(&[
        "info",
        "--output-format=json",
        &env.keyring(),
        env.p("i.raucb").to_str().unwrap(),
    ])))
    .unwrap();
    assert_eq!(json["version"], "4.0.0");
    assert_eq!(
        json["images"][0]["rootfs"]["adaptive"][0],
        "block-hash-index"
    );
}

#[test]
fn resign_and_signature_exchange() {
    let env = Env::new();
    ok(env.create("dev.raucb"));
    let rel = |extra: &[&str]| -> Vec<String> {
        let mut v = vec![
            format!("--cert={}", env.pki.release.cert()),
            format!("--key={}", env.pki.release.key()),
            format!("--intermediate={}", env.pki.inter.cert()),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let mut args = vec!["resign".to_string(), env.keyring()];
    args.extend(rel(&[
        env.p("dev.raucb").to_str().unwrap(),
        env.p("rel.raucb").to_str().unwrap(),
    ]));
    ok(tool(&args.iter().map(String::as_str).collect::<Vec<_>>()));
    let json: serde_json::Value = serde_json::from_str(&ok(tool(&[
        "info",
        "--output-format=json",
        &env.keyring(),
        env.p("rel.raucb").to_str().unwrap(),
    ])))
    .unwrap();
    assert!(json["signature"]["chain"][0]["subject"]
        .as_str()
        .unwrap()
        .contains("Release"));

    ok(tool(&[
        "extract-signature",
        &env.keyring(),
        env.p("rel.raucb").to_str().unwrap(),
        env.p("rel.sig").to_str().unwrap(),
    ]));
    ok(tool(&[
        "replace-signature",
        &env.keyring(),
        env.p("dev.raucb").to_str().unwrap(),
        env.p("rel.sig").to_str().unwrap(),
        env.p("rel2.raucb").to_str().unwrap(),
    ]));
    assert_eq!(
        std::fs::read(env.p("rel.raucb")).unwrap(),
        std::fs::read(env.p("rel2.raucb")).unwrap()
    );
}

fn corrupt(path: &Path, at: usize) {
    let mut d = std::fs::read(path).unwrap();
    d[at] ^= 1;
    std::fs::write(path, d).unwrap();
}

#[test]
fn exit_codes() {
    let env = Env::new();
    ok(env.create("b.raucb"));
    let b = env.p("b.raucb");
    // 3: output exists, and it is left alone.
    let before = std::fs::read(&b).unwrap();
    let out = env.create("b.raucb");
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("already exists"));
    assert_eq!(std::fs::read(&b).unwrap(), before);
    // 3: missing file.
    let out = tool(&[
        "info",
        &env.keyring(),
        env.p("nope.raucb").to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("nope.raucb"));
    // 2: usage.
    let out = tool(&["info", b.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("no keyring given"));
    assert_eq!(code(&tool(&["info", "--bogus"])), 2);
    // 1: invalid bundle.
    corrupt(&b, 5000);
    let out = tool(&["verify", &env.keyring(), b.to_str().unwrap()]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("payload is corrupted"),
        "{}",
        stderr(&out)
    );
    let out = tool(&[
        "info",
        "--keyring",
        env.pki.other_root.cert(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("unable to get local issuer certificate"),
        "{}",
        stderr(&out)
    );
    // --no-verify still shows it, and says so.
    let text = ok(tool(&["info", "--no-verify", b.to_str().unwrap()]));
    assert!(text.contains("NOT VERIFIED"), "{text}");
}
