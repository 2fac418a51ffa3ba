//! `manifest.raucm`: what a bundle contains and what it is for.
//!
//! The manifest is read in three situations that need different strictness,
//! the same split RAUC makes:
//! - [`Manifest::check_for_create`]: a manifest written by a person in a
//!   content directory. Checksums and sizes may be missing (they are computed),
//!   but keys that only the bundle tool may set (`verity-*`, `crypt-key`) must
//!   not be there.
//! - [`Manifest::check_for_bundle`]: a manifest read back from a bundle. Every
//!   image must have its checksum and size; verity bundles must carry their
//!   hash-tree parameters in the signed copy.
//!
//! Parsing itself ([`Manifest::parse`]) rejects unknown groups and keys, as
//! RAUC 1.8 does, so a typo in a build recipe fails the build instead of
//! producing a bundle that the device refuses.

use crate::keyfile::{KeyFile, KeyFileError};

/// Bundle formats RAUC understands.
///
/// `crypt` is recognised when reading (so `info` can say what a bundle is)
/// but this crate does not yet create or decrypt it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// squashfs with a detached CMS signature over all of it.
    #[default]
    Plain,
    /// squashfs ‖ dm-verity hash tree, CMS with the manifest inline.
    Verity,
    /// As verity, with the squashfs encrypted (AES-256-CBC per 4 KiB sector).
    Crypt,
}

impl Format {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Plain => "plain",
            Format::Verity => "verity",
            Format::Crypt => "crypt",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Format {
    type Err = ManifestError;
    fn from_str(s: &str) -> Result<Self, ManifestError> {
        match s {
            "plain" => Ok(Format::Plain),
            "verity" => Ok(Format::Verity),
            "crypt" => Ok(Format::Crypt),
            other => Err(ManifestError::InvalidValue {
                group: "bundle".into(),
                key: "format".into(),
                value: other.into(),
                expected: "plain, verity or crypt",
            }),
        }
    }
}

/// Why a manifest is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The text is not a key file.
    #[error(transparent)]
    Syntax(#[from] KeyFileError),
    /// A group RAUC does not know.
    #[error("unknown group [{0}]")]
    UnknownGroup(String),
    /// A key RAUC does not know in a known group.
    #[error("unknown key {key:?} in group [{group}]")]
    UnknownKey {
        /// The group.
        group: String,
        /// The key.
        key: String,
    },
    /// A required key is absent.
    #[error("missing key {key:?} in group [{group}]")]
    Missing {
        /// The group.
        group: String,
        /// The key.
        key: String,
    },
    /// A key has a value outside what RAUC accepts.
    #[error("invalid value {value:?} for {key:?} in group [{group}]: expected {expected}")]
    InvalidValue {
        /// The group.
        group: String,
        /// The key.
        key: String,
        /// The value found.
        value: String,
        /// What would be accepted.
        expected: &'static str,
    },
    /// A key that only the bundle tool may write appears in an input manifest.
    #[error("key {key:?} in group [{group}] is generated when the bundle is created and must not be in the input manifest")]
    Generated {
        /// The group.
        group: String,
        /// The key.
        key: String,
    },
    /// Two images for the same slot class and variant.
    #[error("duplicate image group [{0}]")]
    DuplicateImage(String),
}

/// `[update]`: what the bundle is for.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Update {
    /// Must equal the device's `[system] compatible`.
    pub compatible: String,
    /// Version of the release (free-form for RAUC; we compare it as semver where it parses).
    pub version: Option<String>,
    /// Human description.
    pub description: Option<String>,
    /// Build identifier, often a timestamp.
    pub build: Option<String>,
}

/// `[bundle]`: how the payload is laid out.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BundleParams {
    /// Payload format.
    pub format: Format,
    /// Root hash of the dm-verity tree (64 lowercase hex digits).
    pub verity_hash: Option<String>,
    /// dm-verity salt (64 lowercase hex digits).
    pub verity_salt: Option<String>,
    /// Length in bytes of the hash tree appended to the squashfs.
    pub verity_size: Option<u64>,
    /// Key of a crypt bundle (only in the signed manifest).
    pub crypt_key: Option<String>,
}

/// `[handler]`: a custom install handler replacing RAUC's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Handler {
    /// Handler file inside the bundle.
    pub filename: Option<String>,
    /// Extra arguments.
    pub args: Option<String>,
}

/// `[hooks]`: the bundle's hook script.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Hooks {
    /// Hook script inside the bundle.
    pub filename: Option<String>,
    /// Bundle-level hooks; RAUC 1.8 knows only `install-check`.
    pub hooks: Vec<String>,
}

/// Slot hooks an image may request.
pub const IMAGE_HOOKS: [&str; 3] = ["pre-install", "install", "post-install"];
/// Bundle hooks.
pub const BUNDLE_HOOKS: [&str; 1] = ["install-check"];
/// Adaptive methods.
pub const ADAPTIVE_METHODS: [&str; 1] = ["block-hash-index"];

/// `[image.<slotclass>[.<variant>]]`: one image for one slot class.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Image {
    /// Target slot class, e.g. `rootfs`.
    pub slotclass: String,
    /// Variant (hardware revision) this image is for, if not for all.
    pub variant: Option<String>,
    /// File inside the bundle; absent only when an `install` hook does the work.
    pub filename: Option<String>,
    /// SHA-256 of the image, lowercase hex.
    pub sha256: Option<String>,
    /// Size of the image in bytes.
    pub size: Option<u64>,
    /// Slot hooks for this image.
    pub hooks: Vec<String>,
    /// Adaptive update methods (`block-hash-index`).
    pub adaptive: Vec<String>,
}

impl Image {
    /// The manifest group name, e.g. `image.rootfs.rev2`.
    pub fn group_name(&self) -> String {
        match &self.variant {
            Some(v) => format!("image.{}.{}", self.slotclass, v),
            None => format!("image.{}", self.slotclass),
        }
    }

    /// True when the image asks for a block hash index.
    pub fn is_adaptive(&self) -> bool {
        self.adaptive.iter().any(|m| m == "block-hash-index")
    }

    /// True when an install hook replaces the normal image copy.
    pub fn has_install_hook(&self) -> bool {
        self.hooks.iter().any(|h| h == "install")
    }
}

/// A parsed manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Manifest {
    /// `[update]`.
    pub update: Update,
    /// `[bundle]`.
    pub bundle: BundleParams,
    /// `[handler]`, if present.
    pub handler: Option<Handler>,
    /// `[hooks]`, if present.
    pub hooks: Option<Hooks>,
    /// Images in file order.
    pub images: Vec<Image>,
    /// `[meta.<label>]` groups: kept when reading, like RAUC 1.8 dropped when
    /// writing. Key order is preserved.
    pub meta: Vec<(String, Vec<(String, String)>)>,
}

fn check_keys(kf: &KeyFile, group: &str, allowed: &[&str]) -> Result<(), ManifestError> {
    if let Some(g) = kf.group(group) {
        for (k, _) in &g.entries {
            if !allowed.contains(&k.as_str()) {
                return Err(ManifestError::UnknownKey {
                    group: group.into(),
                    key: k.clone(),
                });
            }
        }
    }
    Ok(())
}

fn non_empty(group: &str, key: &str, v: Option<String>) -> Result<Option<String>, ManifestError> {
    match v {
        Some(s) if s.is_empty() => Err(ManifestError::InvalidValue {
            group: group.into(),
            key: key.into(),
            value: s,
            expected: "a non-empty string",
        }),
        other => Ok(other),
    }
}

fn parse_u64(kf: &KeyFile, group: &str, key: &str) -> Result<Option<u64>, ManifestError> {
    match kf.string(group, key)? {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ManifestError::InvalidValue {
                group: group.into(),
                key: key.into(),
                value: v,
                expected: "an unsigned integer",
            }),
    }
}

fn check_list(
    group: &str,
    key: &str,
    values: &[String],
    allowed: &[&str],
    expected: &'static str,
) -> Result<(), ManifestError> {
    for v in values {
        if !allowed.contains(&v.as_str()) {
            return Err(ManifestError::InvalidValue {
                group: group.into(),
                key: key.into(),
                value: v.clone(),
                expected,
            });
        }
    }
    Ok(())
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Manifest {
    /// Parses manifest text, rejecting unknown groups and keys.
    pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
        let kf = KeyFile::parse(text)?;
        let mut m = Manifest::default();

        // [update]
        check_keys(
            &kf,
            "update",
            &["compatible", "version", "description", "build"],
        )?;
        m.update.compatible =
            non_empty("update", "compatible", kf.string("update", "compatible")?)?.ok_or_else(
                || ManifestError::Missing {
                    group: "update".into(),
                    key: "compatible".into(),
                },
            )?;
        m.update.version = non_empty("update", "version", kf.string("update", "version")?)?;
        m.update.description = kf.string("update", "description")?;
        m.update.build = kf.string("update", "build")?;

        // [bundle]
        check_keys(
            &kf,
            "bundle",
            &[
                "format",
                "verity-hash",
                "verity-salt",
                "verity-size",
                "crypt-key",
            ],
        )?;
        if let Some(f) = kf.string("bundle", "format")? {
            m.bundle.format = f.parse()?;
        }
        m.bundle.verity_hash = kf.string("bundle", "verity-hash")?;
        m.bundle.verity_salt = kf.string("bundle", "verity-salt")?;
        m.bundle.verity_size = parse_u64(&kf, "bundle", "verity-size")?;
        m.bundle.crypt_key = kf.string("bundle", "crypt-key")?;
        for (key, v) in [
            ("verity-hash", &m.bundle.verity_hash),
            ("verity-salt", &m.bundle.verity_salt),
            ("crypt-key", &m.bundle.crypt_key),
        ] {
            if let Some(v) = v {
                if !is_hex64(v) {
                    return Err(ManifestError::InvalidValue {
                        group: "bundle".into(),
                        key: key.into(),
                        value: v.clone(),
                        expected: "64 hexadecimal digits",
                    });
                }
            }
        }

        // [handler]
        check_keys(&kf, "handler", &["filename", "args"])?;
        if kf.group("handler").is_some() {
            m.handler = Some(Handler {
                filename: kf.string("handler", "filename")?,
                args: kf.string("handler", "args")?,
            });
        }

        // [hooks]
        check_keys(&kf, "hooks", &["filename", "hooks"])?;
        if kf.group("hooks").is_some() {
            let hooks = kf.list("hooks", "hooks")?.unwrap_or_default();
            check_list("hooks", "hooks", &hooks, &BUNDLE_HOOKS, "install-check")?;
            m.hooks = Some(Hooks {
                filename: kf.string("hooks", "filename")?,
                hooks,
            });
        }

        for g in kf.groups() {
            let name = g.name.as_str();
            if matches!(name, "update" | "bundle" | "handler" | "hooks") {
                continue;
            }
            if let Some(label) = name.strip_prefix("meta.") {
                if !label.is_empty() {
                    let mut entries = Vec::new();
                    for (k, _) in &g.entries {
                        let v = kf.string(name, k)?.unwrap_or_default();
                        entries.push((k.clone(), v));
                    }
                    m.meta.push((label.to_string(), entries));
                    continue;
                }
            }
            let Some(rest) = name.strip_prefix("image.") else {
                return Err(ManifestError::UnknownGroup(name.into()));
            };
            // RAUC splits the group name into at most three parts: the
            // variant is everything after the second dot.
            let (slotclass, variant) = match rest.split_once('.') {
                Some((c, v)) => (c, Some(v)),
                None => (rest, None),
            };
            if slotclass.is_empty() || variant == Some("") {
                return Err(ManifestError::UnknownGroup(name.into()));
            }
            check_keys(
                &kf,
                name,
                &["filename", "sha256", "size", "hooks", "adaptive"],
            )?;
            let hooks = kf.list(name, "hooks")?.unwrap_or_default();
            check_list(
                name,
                "hooks",
                &hooks,
                &IMAGE_HOOKS,
                "pre-install, install or post-install",
            )?;
            let adaptive = kf.list(name, "adaptive")?.unwrap_or_default();
            check_list(
                name,
                "adaptive",
                &adaptive,
                &ADAPTIVE_METHODS,
                "block-hash-index",
            )?;
            let image = Image {
                slotclass: slotclass.into(),
                variant: variant.map(str::to_string),
                filename: non_empty(name, "filename", kf.string(name, "filename")?)?,
                sha256: kf.string(name, "sha256")?,
                size: parse_u64(&kf, name, "size")?,
                hooks,
                adaptive,
            };
            if let Some(h) = &image.sha256 {
                if !is_hex64(h) {
                    return Err(ManifestError::InvalidValue {
                        group: name.into(),
                        key: "sha256".into(),
                        value: h.clone(),
                        expected: "64 hexadecimal digits",
                    });
                }
            }
            if image.filename.is_none() && !image.has_install_hook() {
                return Err(ManifestError::Missing {
                    group: name.into(),
                    key: "filename".into(),
                });
            }
            if m.images.iter().any(|i| i.group_name() == name) {
                return Err(ManifestError::DuplicateImage(name.into()));
            }
            m.images.push(image);
        }
        Ok(m)
    }

    /// Hooks need a hook script: RAUC refuses a manifest whose images or
    /// bundle request hooks without `[hooks] filename`.
    fn check_hooks_consistent(&self) -> Result<(), ManifestError> {
        let uses_hooks = self.images.iter().any(|i| !i.hooks.is_empty())
            || self.hooks.as_ref().is_some_and(|h| !h.hooks.is_empty());
        if uses_hooks
            && self
                .hooks
                .as_ref()
                .and_then(|h| h.filename.as_ref())
                .is_none()
        {
            return Err(ManifestError::Missing {
                group: "hooks".into(),
                key: "filename".into(),
            });
        }
        Ok(())
    }

    /// Checks a manifest from a content directory before a bundle is built.
    pub fn check_for_create(&self) -> Result<(), ManifestError> {
        self.check_hooks_consistent()?;
        for (key, present) in [
            ("verity-hash", self.bundle.verity_hash.is_some()),
            ("verity-salt", self.bundle.verity_salt.is_some()),
            ("verity-size", self.bundle.verity_size.is_some()),
            ("crypt-key", self.bundle.crypt_key.is_some()),
        ] {
            if present {
                return Err(ManifestError::Generated {
                    group: "bundle".into(),
                    key: key.into(),
                });
            }
        }
        if self.bundle.format == Format::Crypt {
            return Err(ManifestError::InvalidValue {
                group: "bundle".into(),
                key: "format".into(),
                value: "crypt".into(),
                expected: "plain or verity (crypt bundles cannot be created by this version)",
            });
        }
        Ok(())
    }

    /// Checks a manifest read from a bundle: every image with a file has a
    /// checksum and size, and verity parameters match the format.
    pub fn check_for_bundle(&self) -> Result<(), ManifestError> {
        self.check_hooks_consistent()?;
        for img in &self.images {
            if img.filename.is_some() {
                for (key, present) in [
                    ("sha256", img.sha256.is_some()),
                    ("size", img.size.is_some()),
                ] {
                    if !present {
                        return Err(ManifestError::Missing {
                            group: img.group_name(),
                            key: key.into(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The manifest as the signed content of a verity bundle must contain it:
    /// verity parameters present.
    pub fn check_signed_verity(&self) -> Result<(), ManifestError> {
        for (key, present) in [
            ("verity-hash", self.bundle.verity_hash.is_some()),
            ("verity-salt", self.bundle.verity_salt.is_some()),
            ("verity-size", self.bundle.verity_size.is_some()),
        ] {
            if !present {
                return Err(ManifestError::Missing {
                    group: "bundle".into(),
                    key: key.into(),
                });
            }
        }
        Ok(())
    }

    /// Serialises in the exact layout `rauc bundle` writes: groups in the
    /// order update, bundle, handler, hooks, images; `[bundle]` left out for
    /// plain bundles without parameters; `[meta.*]` dropped as RAUC 1.8 does.
    pub fn to_text(&self) -> String {
        let mut kf = KeyFile::default();
        kf.set_string("update", "compatible", &self.update.compatible);
        for (key, v) in [
            ("version", &self.update.version),
            ("description", &self.update.description),
            ("build", &self.update.build),
        ] {
            if let Some(v) = v {
                kf.set_string("update", key, v);
            }
        }
        let b = &self.bundle;
        let has_params =
            b.verity_hash.is_some() || b.verity_salt.is_some() || b.verity_size.is_some();
        if b.format != Format::Plain || has_params || b.crypt_key.is_some() {
            if let Some(k) = &b.crypt_key {
                kf.set_string("bundle", "crypt-key", k);
            }
            kf.set_string("bundle", "format", b.format.as_str());
            if let Some(v) = &b.verity_hash {
                kf.set_string("bundle", "verity-hash", v);
            }
            if let Some(v) = &b.verity_salt {
                kf.set_string("bundle", "verity-salt", v);
            }
            if let Some(v) = b.verity_size {
                kf.set_string("bundle", "verity-size", &v.to_string());
            }
        }
        if let Some(h) = &self.handler {
            if let Some(f) = &h.filename {
                kf.set_string("handler", "filename", f);
            }
            if let Some(a) = &h.args {
                kf.set_string("handler", "args", a);
            }
        }
        if let Some(h) = &self.hooks {
            if let Some(f) = &h.filename {
                kf.set_string("hooks", "filename", f);
            }
            if !h.hooks.is_empty() {
                kf.set_list("hooks", "hooks", &h.hooks);
            }
        }
        for img in &self.images {
            let g = img.group_name();
            if let Some(s) = &img.sha256 {
                kf.set_string(&g, "sha256", s);
            }
            if let Some(s) = img.size {
                kf.set_string(&g, "size", &s.to_string());
            }
            if let Some(f) = &img.filename {
                kf.set_string(&g, "filename", f);
            }
            if !img.hooks.is_empty() {
                kf.set_list(&g, "hooks", &img.hooks);
            }
            if !img.adaptive.is_empty() {
                kf.set_list(&g, "adaptive", &img.adaptive);
            }
        }
        kf.to_text()
    }

    /// Every file name the manifest refers to inside the bundle, in order.
    pub fn referenced_files(&self) -> Vec<&str> {
        let mut out = Vec::new();
        if let Some(f) = self.handler.as_ref().and_then(|h| h.filename.as_deref()) {
            out.push(f);
        }
        if let Some(f) = self.hooks.as_ref().and_then(|h| h.filename.as_deref()) {
            out.push(f);
        }
        for img in &self.images {
            if let Some(f) = &img.filename {
                out.push(f.as_str());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "[update]\ncompatible=Test Device\nversion=2.0.0\ndescription=desc\nbuild=20240101\n\n\
[bundle]\nformat=verity\n\n[hooks]\nfilename=hook.sh\nhooks=install-check;\n\n\
[image.rootfs]\nsha256=96792d01a77a077d6b6e4ed74f30378790ca91b8520a8d5e914f35bf3722d44b\nsize=8388608\nfilename=rootfs.ext4\nhooks=pre-install;post-install;\nadaptive=block-hash-index;\n\n\
[image.firmware.rev.2]\nsha256=96792d01a77a077d6b6e4ed74f30378790ca91b8520a8d5e914f35bf3722d44b\nsize=10\nfilename=fw2.bin\n";

    #[test]
    fn parses_and_rewrites_identically() {
        let m = Manifest::parse(FULL.as_bytes()).unwrap();
        assert_eq!(m.update.compatible, "Test Device");
        assert_eq!(m.bundle.format, Format::Verity);
        assert_eq!(m.images.len(), 2);
        assert_eq!(m.images[1].slotclass, "firmware");
        assert_eq!(m.images[1].variant.as_deref(), Some("rev.2"));
        assert!(m.images[0].is_adaptive());
        m.check_for_bundle().unwrap();
        assert_eq!(m.to_text(), FULL);
    }

    #[test]
    fn plain_omits_bundle_group() {
        let m = Manifest::parse(
            b"[update]\ncompatible=X\n[bundle]\nformat=plain\n[image.rootfs]\nfilename=r.img\n",
        )
        .unwrap();
        assert_eq!(
            m.to_text(),
            "[update]\ncompatible=X\n\n[image.rootfs]\nfilename=r.img\n"
        );
    }

    #[test]
    fn unknown_keys_and_groups_are_errors() {
        let e = Manifest::parse(b"[update]\ncompatible=X\ncolour=blue\n").unwrap_err();
        assert_eq!(
            e,
            ManifestError::UnknownKey {
                group: "update".into(),
                key: "colour".into()
            }
        );
        let e =
            Manifest::parse(b"[update]\ncompatible=X\n[imag.rootfs]\nfilename=a\n").unwrap_err();
        assert_eq!(e, ManifestError::UnknownGroup("imag.rootfs".into()));
        let e = Manifest::parse(b"[update]\ncompatible=X\n[image.rootfs]\nfilename=a\nsha1=00\n")
            .unwrap_err();
        assert!(matches!(e, ManifestError::UnknownKey { .. }));
        let e = Manifest::parse(
            b"[update]\ncompatible=X\n[image.rootfs]\nfilename=a\nhooks=post-update;\n",
        )
        .unwrap_err();
        assert!(matches!(e, ManifestError::InvalidValue { .. }), "{e}");
        let e = Manifest::parse(b"[update]\ncompatible=X\n[bundle]\nformat=zip\n").unwrap_err();
        assert!(e.to_string().contains("\"zip\""), "{e}");
    }

    #[test]
    fn meta_groups_are_read_but_not_written() {
        let m = Manifest::parse(b"[update]\ncompatible=X\n[meta.release]\nchannel=beta\n").unwrap();
        assert_eq!(
            m.meta,
            vec![(
                "release".to_string(),
                vec![("channel".to_string(), "beta".to_string())]
            )]
        );
        assert_eq!(m.to_text(), "[update]\ncompatible=X\n");
    }

    #[test]
    fn required_values() {
        assert!(matches!(
            Manifest::parse(b"[update]\nversion=1\n").unwrap_err(),
            ManifestError::Missing { .. }
        ));
        assert!(matches!(
            Manifest::parse(b"[update]\ncompatible=X\n[image.rootfs]\nsize=1\n").unwrap_err(),
            ManifestError::Missing { .. }
        ));
        // An install hook may replace the file.
        Manifest::parse(b"[update]\ncompatible=X\n[image.rootfs]\nhooks=install;\n").unwrap();
        let m = Manifest::parse(b"[update]\ncompatible=X\n[image.rootfs]\nfilename=a\n").unwrap();
        assert!(m.check_for_bundle().is_err());
    }

    #[test]
    fn generated_keys_are_refused_on_create() {
        let m =
            Manifest::parse(b"[update]\ncompatible=X\n[bundle]\nformat=verity\nverity-size=4096\n")
                .unwrap();
        assert!(matches!(
            m.check_for_create(),
            Err(ManifestError::Generated { .. })
        ));
    }
}
