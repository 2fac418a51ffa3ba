//! Reading a bundle: locate its parts, check its signature, read its manifest,
//! and optionally check every byte of the payload and extract it.
//!
//! Layout, shared by all formats:
//!
//! ```text
//! payload ‖ CMS signature (DER) ‖ signature length (u64, big-endian)
//! plain:  payload = squashfs             signature detached over the payload
//! verity: payload = squashfs ‖ hash tree  signature holds the manifest inline
//! ```
//!
//! How much is checked depends on the question asked, as with RAUC:
//! - [`Bundle::inspect`] (what `info` does) checks the signature. For a plain
//!   bundle that means hashing the whole payload (streamed, never loaded);
//!   for a verity bundle only the signed manifest, since the payload is
//!   protected block by block when it is used.
//! - [`Bundle::verify`] also checks the verity hash tree against the data
//!   and, when asked, every image against its manifest checksum and size.
//! - [`Bundle::extract`] checks everything before writing anything.

use crate::error::{Error, Result};
use crate::manifest::{Format, Manifest};
use crate::signature::{Signature, SignatureInfo, VerifyOptions, MAX_SIGNATURE_SIZE};
use crate::squashfs;
use crate::verity;
use crate::Progress;
use openssl::sha::Sha256;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Name of the manifest inside the squashfs.
pub const MANIFEST_NAME: &str = "manifest.raucm";
/// Largest manifest we read.
const MAX_MANIFEST: u64 = 1 << 20;

/// An opened bundle whose trailer and signature structure have been read.
pub struct Bundle {
    path: PathBuf,
    file: File,
    file_size: u64,
    payload_size: u64,
    sig_der: Vec<u8>,
    signature: Signature,
}

/// What a bundle is, as established by [`Bundle::inspect`], [`Bundle::verify`]
/// or [`Bundle::extract`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct BundleInfo {
    /// The bundle file.
    pub path: PathBuf,
    /// Payload format.
    pub format: Format,
    /// The manifest (for verity bundles: the signed one).
    pub manifest: Manifest,
    /// The signature and its chain.
    pub signature: SignatureInfo,
    /// Total file size.
    pub size: u64,
    /// Payload size (everything before the signature).
    pub payload_size: u64,
    /// Size of the squashfs part of the payload.
    pub squashfs_size: u64,
    /// Whether the verity hash tree was checked against the data.
    pub verity_checked: bool,
    /// Whether every image was checked against the manifest.
    pub images_checked: bool,
}

fn not_a_bundle(path: &Path, reason: impl Into<String>) -> Error {
    Error::NotABundle {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl Bundle {
    /// Opens `path` and reads the trailer and signature, rejecting sizes RAUC
    /// rejects. Nothing is verified yet.
    pub fn open(path: &Path) -> Result<Bundle> {
        let mut file =
            File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        let file_size = file
            .metadata()
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
            .len();
        if file_size < 8 {
            return Err(not_a_bundle(
                path,
                format!("file is only {file_size} bytes, too short for a bundle"),
            ));
        }
        let mut trailer = [0u8; 8];
        file.seek(SeekFrom::Start(file_size - 8))
            .and_then(|_| file.read_exact(&mut trailer))
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let sig_size = u64::from_be_bytes(trailer);
        if sig_size == 0 {
            return Err(not_a_bundle(path, "signature size is 0"));
        }
        if sig_size > file_size - 8 {
            return Err(not_a_bundle(
                path,
                format!("signature size {sig_size} exceeds the file ({file_size} bytes): truncated or not a bundle"),
            ));
        }
        if sig_size > MAX_SIGNATURE_SIZE {
            return Err(not_a_bundle(
                path,
                format!("signature size {sig_size} exceeds 64 KiB"),
            ));
        }
        let payload_size = file_size - 8 - sig_size;
        if payload_size == 0 {
            return Err(not_a_bundle(path, "payload is empty"));
        }
        let mut sig_der = vec![0u8; sig_size as usize];
        file.seek(SeekFrom::Start(payload_size))
            .and_then(|_| file.read_exact(&mut sig_der))
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let signature = Signature::from_der(&sig_der).map_err(|e| match e {
            Error::Signature(r) => not_a_bundle(path, r),
            other => other,
        })?;
        Ok(Bundle {
            path: path.to_path_buf(),
            file,
            file_size,
            payload_size,
            sig_der,
            signature,
        })
    }

    /// The bundle file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes before the signature.
    pub fn payload_size(&self) -> u64 {
        self.payload_size
    }

    /// The signature exactly as stored.
    pub fn signature_der(&self) -> &[u8] {
        &self.sig_der
    }

    /// The parsed signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// A reader over `len` payload bytes starting at `offset`.
    pub fn payload_reader(&self, offset: u64, len: u64) -> Result<impl Read + '_> {
        let mut f = &self.file;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(format!("reading {}", self.path.display()), e))?;
        Ok(f.take(len))
    }

    fn squashfs(&self, size: u64) -> Result<squashfs::Image> {
        Ok(squashfs::Image::open(&self.path, size)?)
    }

    fn inner_manifest(&self, squashfs_size: u64) -> Result<Manifest> {
        let text = self
            .squashfs(squashfs_size)?
            .read_file(MANIFEST_NAME, MAX_MANIFEST)?;
        Manifest::parse(&text).map_err(|e| {
            Error::manifest(format!("{} in {}", MANIFEST_NAME, self.path.display()), e)
        })
    }

    /// Checks the signature (see the module docs for how much) and returns
    /// what the bundle is. With `opts == None` nothing is verified and the
    /// result says so (`info --no-verify`).
    pub fn inspect(
        &mut self,
        opts: Option<&VerifyOptions>,
        progress: &mut dyn Progress,
    ) -> Result<BundleInfo> {
        if self.signature.is_detached() {
            let signature = match opts {
                Some(o) => {
                    progress.stage("Verifying signature", self.payload_size);
                    let len = self.payload_size;
                    let mut f = &self.file;
                    f.seek(SeekFrom::Start(0))
                        .map_err(|e| Error::io(format!("reading {}", self.path.display()), e))?;
                    let mut reader = f.take(len);
                    let info = self
                        .signature
                        .verify_detached(o, &mut reader, len, |d| progress.advance(d))?;
                    progress.finish();
                    info
                }
                None => self.signature.unverified_info(),
            };
            let manifest = self.inner_manifest(self.payload_size)?;
            if manifest.bundle.format != Format::Plain {
                return Err(Error::FormatMismatch(format!(
                    "the signature is detached (plain) but the manifest says format={}",
                    manifest.bundle.format
                )));
            }
            manifest.check_for_bundle().map_err(|e| {
                Error::manifest(format!("{} in {}", MANIFEST_NAME, self.path.display()), e)
            })?;
            Ok(self.info(Format::Plain, manifest, signature, self.payload_size))
        } else {
            let (content, signature) = match opts {
                Some(o) => self.signature.verify_inline(o)?,
                None => (
                    self.signature.unverified_content()?,
                    self.signature.unverified_info(),
                ),
            };
            let origin = format!("signed manifest of {}", self.path.display());
            let manifest = Manifest::parse(&content).map_err(|e| Error::manifest(&origin, e))?;
            let format = manifest.bundle.format;
            if format == Format::Plain {
                return Err(Error::FormatMismatch(
                    "the signature holds a manifest (verity or crypt) but the manifest says format=plain".into(),
                ));
            }
            manifest
                .check_signed_verity()
                .map_err(|e| Error::manifest(&origin, e))?;
            manifest
                .check_for_bundle()
                .map_err(|e| Error::manifest(&origin, e))?;
            let verity_size = manifest.bundle.verity_size.unwrap_or(0);
            if verity_size == 0 || verity_size >= self.payload_size {
                return Err(not_a_bundle(
                    &self.path,
                    format!(
                        "verity-size {verity_size} does not fit the payload of {} bytes",
                        self.payload_size
                    ),
                ));
            }
            let squashfs_size = self.payload_size - verity_size;
            let block = verity::BLOCK_SIZE as u64;
            if squashfs_size % block != 0 || squashfs_size <= block {
                return Err(not_a_bundle(
                    &self.path,
                    format!("squashfs size {squashfs_size} must be a multiple of 4096 and larger than 4096"),
                ));
            }
            if verity::tree_size(squashfs_size) != verity_size {
                return Err(not_a_bundle(
                    &self.path,
                    format!(
                        "verity-size {verity_size} does not match the {} bytes a tree over {squashfs_size} bytes takes",
                        verity::tree_size(squashfs_size)
                    ),
                ));
            }
            Ok(self.info(format, manifest, signature, squashfs_size))
        }
    }

    fn info(
        &self,
        format: Format,
        manifest: Manifest,
        signature: SignatureInfo,
        squashfs_size: u64,
    ) -> BundleInfo {
        BundleInfo {
            path: self.path.clone(),
            format,
            manifest,
            signature,
            size: self.file_size,
            payload_size: self.payload_size,
            squashfs_size,
            verity_checked: false,
            images_checked: false,
        }
    }

    /// [`Bundle::inspect`] plus the verity hash tree against every data
    /// block, and with `check_images` every image against its manifest entry.
    pub fn verify(
        &mut self,
        opts: &VerifyOptions,
        check_images: bool,
        progress: &mut dyn Progress,
    ) -> Result<BundleInfo> {
        let mut info = self.inspect(Some(opts), progress)?;
        match info.format {
            Format::Plain => {}
            Format::Verity => {
                self.check_verity(&info, progress)?;
                info.verity_checked = true;
            }
            Format::Crypt => {
                return Err(Error::Unsupported(
                    "crypt bundles: checking the encrypted payload needs the key; only the signature was checked".into(),
                ))
            }
        }
        if check_images {
            self.check_images(&info, progress)?;
            info.images_checked = true;
        }
        Ok(info)
    }

    fn check_verity(&mut self, info: &BundleInfo, progress: &mut dyn Progress) -> Result<()> {
        let b = &info.manifest.bundle;
        let salt = hex::decode(b.verity_salt.as_deref().unwrap_or_default())
            .map_err(|_| Error::Payload("verity-salt is not hexadecimal".into()))?;
        let root = hex::decode(b.verity_hash.as_deref().unwrap_or_default())
            .map_err(|_| Error::Payload("verity-hash is not hexadecimal".into()))?;
        let data_size = info.squashfs_size;
        progress.stage("Checking verity hash tree", data_size);
        let computed = {
            let mut reader = self.payload_reader(0, data_size)?;
            verity::compute(&mut reader, data_size, &salt, |d| progress.advance(d))
                .map_err(|e| Error::io(format!("reading {}", self.path.display()), e))?
        };
        progress.finish();
        let mut stored = vec![0u8; computed.tree.len()];
        self.payload_reader(data_size, stored.len() as u64)?
            .read_exact(&mut stored)
            .map_err(|e| Error::io(format!("reading {}", self.path.display()), e))?;
        verity::compare(&computed, &stored, &root).map_err(|m| {
            Error::Payload(match m {
                verity::Mismatch::DataBlock(pos) => format!("verification failed at position {pos} (data block does not match the hash tree)"),
                verity::Mismatch::Tree(pos) => format!("the hash tree is damaged at tree offset {pos}"),
                verity::Mismatch::Root => "the hash tree's root does not match the signed verity-hash".into(),
            })
        })
    }

    fn check_images(&mut self, info: &BundleInfo, progress: &mut dyn Progress) -> Result<()> {
        let sq = self.squashfs(info.squashfs_size)?;
        let entries = sq.entries()?;
        for img in &info.manifest.images {
            let Some(name) = &img.filename else { continue };
            let group = img.group_name();
            let entry = entries.iter().find(|e| &e.name == name).ok_or_else(|| {
                Error::Content(format!(
                    "image [{group}] names {name}, which is not in the bundle"
                ))
            })?;
            let expected_size = img.size.unwrap_or_default();
            if entry.size != expected_size {
                return Err(Error::ImageMismatch {
                    group,
                    filename: name.clone(),
                    what: "size",
                    expected: expected_size.to_string(),
                    actual: entry.size.to_string(),
                });
            }
            progress.stage(&format!("Checking image {name}"), entry.size);
            let mut sink = HashingSink::new(img.is_adaptive(), progress);
            sq.copy_file(name, &mut sink)?;
            let (digest, blocks) = sink.finish();
            progress.finish();
            let actual = hex::encode(digest);
            let expected = img.sha256.clone().unwrap_or_default();
            if !actual.eq_ignore_ascii_case(&expected) {
                return Err(Error::ImageMismatch {
                    group,
                    filename: name.clone(),
                    what: "sha256",
                    expected,
                    actual,
                });
            }
            if let Some(blocks) = blocks {
                let index_name = format!("{name}.block-hash-index");
                let index = sq
                    .read_file(&index_name, expected_size / 128 + 4096)
                    .map_err(|_| {
                        Error::Content(format!(
                            "image [{group}] is adaptive but {index_name} is missing or too large"
                        ))
                    })?;
                if index != blocks {
                    return Err(Error::ImageMismatch {
                        group,
                        filename: index_name,
                        what: "block hash index",
                        expected: format!("{} bytes matching the image", blocks.len()),
                        actual: format!("{} bytes that differ", index.len()),
                    });
                }
            }
        }
        Ok(())
    }

    /// Checks everything ([`Bundle::verify`] with images) and then unpacks
    /// the squashfs into `dest`, which must not exist. The files appear at
    /// `dest` only when all of them are written.
    pub fn extract(
        &mut self,
        opts: &VerifyOptions,
        dest: &Path,
        progress: &mut dyn Progress,
    ) -> Result<BundleInfo> {
        if dest.symlink_metadata().is_ok() {
            return Err(Error::OutputExists(dest.to_path_buf()));
        }
        let info = self.verify(opts, true, progress)?;
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp"))
            .tempdir_in(parent)
            .map_err(|e| {
                Error::io(
                    format!("creating a temporary directory in {}", parent.display()),
                    e,
                )
            })?;
        progress.stage("Extracting", info.squashfs_size);
        self.squashfs(info.squashfs_size)?.extract_all(tmp.path())?;
        progress.finish();
        if dest.symlink_metadata().is_ok() {
            return Err(Error::OutputExists(dest.to_path_buf()));
        }
        let tmp_path = tmp.keep();
        std::fs::rename(&tmp_path, dest).map_err(|e| {
            let _ = std::fs::remove_dir_all(&tmp_path);
            Error::io(
                format!("moving the extracted files to {}", dest.display()),
                e,
            )
        })?;
        Ok(info)
    }
}

/// Hashes a stream (and its 4 KiB blocks for adaptive images) while
/// reporting progress.
pub(crate) struct HashingSink<'a> {
    sha: Sha256,
    blocks: Option<verity::BlockHasher>,
    done: u64,
    progress: &'a mut dyn Progress,
}

impl<'a> HashingSink<'a> {
    pub(crate) fn new(block_index: bool, progress: &'a mut dyn Progress) -> Self {
        HashingSink {
            sha: Sha256::new(),
            blocks: block_index.then(|| verity::BlockHasher::new(&[])),
            done: 0,
            progress,
        }
    }

    pub(crate) fn finish(self) -> ([u8; 32], Option<Vec<u8>>) {
        (
            self.sha.finish(),
            self.blocks.map(verity::BlockHasher::finish),
        )
    }
}

impl Write for HashingSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sha.update(buf);
        if let Some(b) = &mut self.blocks {
            b.update(buf);
        }
        self.done += buf.len() as u64;
        self.progress.advance(self.done);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
