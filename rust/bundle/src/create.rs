//! Writing bundles: creating one from content, re-signing one, and swapping
//! in a signature made elsewhere (an HSM on another machine).
//!
//! Creation reads each image exactly once: the bytes are hashed (SHA-256,
//! and the per-block index for adaptive images) on their way into the
//! squashfs writer, whose worker threads compress them. The manifest, which
//! needs those hashes, is the last file added. The squashfs is then read
//! once more to sign it (plain) or to build its hash tree (verity).
//!
//! Output goes through [`AtomicOutput`]: nothing appears under the output
//! name unless the whole bundle was written, signed and synced.

use crate::bundle::{Bundle, MANIFEST_NAME};
use crate::error::{Error, Result};
use crate::manifest::{Format, Manifest};
use crate::output::AtomicOutput;
use crate::signature::{Signature, Signer, VerifyOptions};
use crate::squashfs;
use crate::verity;
use crate::Progress;
use openssl::sha::Sha256;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Suffix of the block hash index written for adaptive images.
pub const BLOCK_HASH_INDEX_SUFFIX: &str = ".block-hash-index";

/// What goes into a bundle: a manifest and the files it ships.
#[derive(Debug, Clone)]
pub struct Content {
    /// The input manifest (checksums and sizes may be missing).
    pub manifest: Manifest,
    /// Files to ship, by their name inside the bundle.
    pub files: Vec<(String, PathBuf)>,
    origin: String,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

impl Content {
    /// A content directory as `rauc bundle` takes it: `manifest.raucm` plus
    /// the images and scripts it names (and any other files, which are
    /// shipped too). The directory is not modified.
    pub fn from_dir(dir: &Path) -> Result<Content> {
        let origin = dir.join(MANIFEST_NAME).display().to_string();
        let text = std::fs::read(dir.join(MANIFEST_NAME))
            .map_err(|e| Error::io(format!("reading {origin}"), e))?;
        let manifest = Manifest::parse(&text).map_err(|e| Error::manifest(&origin, e))?;
        let mut files = Vec::new();
        let rd = std::fs::read_dir(dir)
            .map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == MANIFEST_NAME {
                continue;
            }
            let path = entry.path();
            let meta = std::fs::metadata(&path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            if !meta.is_file() {
                return Err(Error::Content(format!(
                    "{} is not a regular file; content directories may only hold files",
                    path.display()
                )));
            }
            files.push((name, path));
        }
        files.sort();
        Ok(Content {
            manifest,
            files,
            origin,
        })
    }

    /// Content given directly: a manifest and the files, for example image
    /// files whose manifest values came from command-line flags.
    pub fn from_parts(manifest: Manifest, files: Vec<(String, PathBuf)>) -> Result<Content> {
        for (name, _) in &files {
            if !valid_name(name) || name == MANIFEST_NAME {
                return Err(Error::Content(format!(
                    "{name:?} cannot be a file name inside a bundle"
                )));
            }
        }
        Ok(Content {
            manifest,
            files,
            origin: "given manifest".into(),
        })
    }

    fn file(&self, name: &str) -> Option<&Path> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.as_path())
    }
}

/// How to build a bundle.
pub struct CreateOptions<'a> {
    /// Who signs it.
    pub signer: &'a Signer,
    /// Format; when `None`, the manifest's `[bundle] format` (default plain).
    pub format: Option<Format>,
    /// Squashfs compression settings.
    pub squashfs: squashfs::Options,
    /// When given, the finished bundle is verified with these options before
    /// it is published (as `rauc bundle` does with a keyring).
    pub verify: Option<VerifyOptions>,
}

/// Reads a file while hashing it.
struct HashingReader<'p, R> {
    inner: R,
    sha: Sha256,
    blocks: Option<verity::BlockHasher>,
    done: u64,
    progress: &'p mut dyn Progress,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        if let Some(b) = &mut self.blocks {
            b.update(&buf[..n]);
        }
        self.done += n as u64;
        self.progress.advance(self.done);
        Ok(n)
    }
}

fn file_mode(path: &Path) -> Result<u32> {
    Ok(std::fs::metadata(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
        .permissions()
        .mode()
        & 0o7777)
}

fn append_signature(file: &mut File, sig: &[u8], dest: &Path) -> Result<()> {
    file.seek(SeekFrom::End(0))
        .and_then(|_| file.write_all(sig))
        .and_then(|_| file.write_all(&(sig.len() as u64).to_be_bytes()))
        .map_err(|e| Error::io(format!("writing {}", dest.display()), e))
}

/// Builds a signed bundle from `content` at `output`, which must not exist.
/// Returns the manifest as written into the bundle.
pub fn create(
    content: &Content,
    output: &Path,
    opts: &CreateOptions<'_>,
    progress: &mut dyn Progress,
) -> Result<Manifest> {
    let mut manifest = content.manifest.clone();
    let origin = &content.origin;
    if let Some(f) = opts.format {
        if content.manifest.bundle.format != Format::Plain && content.manifest.bundle.format != f {
            return Err(Error::Content(format!(
                "format {f} was requested but {origin} says format={}",
                content.manifest.bundle.format
            )));
        }
        manifest.bundle.format = f;
    }
    manifest
        .check_for_create()
        .map_err(|e| Error::manifest(origin, e))?;
    let format = manifest.bundle.format;

    for name in manifest.referenced_files() {
        if !valid_name(name) {
            return Err(Error::Content(format!(
                "{origin} names {name:?}, which must be a plain file name"
            )));
        }
        if content.file(name).is_none() {
            return Err(Error::Content(format!(
                "{origin} names {name}, which is not in the content"
            )));
        }
    }

    let mut out = AtomicOutput::create(output)?;
    let mut writer = squashfs::Writer::create(out.temp_path(), &opts.squashfs)?;

    // Images first, hashed as they stream into the squashfs.
    let mut added: Vec<String> = Vec::new();
    let mut indexes: Vec<(String, Vec<u8>)> = Vec::new();
    let mut image_hashes: Vec<(String, String, u64)> = Vec::new();
    for idx in 0..manifest.images.len() {
        let img = manifest.images[idx].clone();
        let Some(name) = img.filename.clone() else {
            continue;
        };
        let group = img.group_name();
        let (sha, size) = if let Some((_, sha, size)) =
            image_hashes.iter().find(|(n, _, _)| *n == name)
        {
            (sha.clone(), *size)
        } else {
            let path = content.file(&name).expect("checked above");
            let size = std::fs::metadata(path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
                .len();
            if img.is_adaptive() && size % verity::BLOCK_SIZE as u64 != 0 {
                return Err(Error::Content(format!(
                    "image [{group}] {name} is adaptive but its size {size} is not a multiple of 4096"
                )));
            }
            let file = File::open(path)
                .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
            progress.stage(&format!("Adding {name}"), size);
            let mut reader = HashingReader {
                inner: file,
                sha: Sha256::new(),
                blocks: img.is_adaptive().then(|| verity::BlockHasher::new(&[])),
                done: 0,
                progress: &mut *progress,
            };
            let written = writer.add_file(&name, &mut reader, file_mode(path)?)?;
            let HashingReader {
                sha, blocks, done, ..
            } = reader;
            progress.finish();
            if written != done || done != size {
                return Err(Error::Content(format!(
                    "{} changed size while it was being read",
                    path.display()
                )));
            }
            let sha = hex::encode(sha.finish());
            if let Some(b) = blocks {
                indexes.push((format!("{name}{BLOCK_HASH_INDEX_SUFFIX}"), b.finish()));
            }
            added.push(name.clone());
            image_hashes.push((name.clone(), sha.clone(), size));
            (sha, size)
        };
        if let Some(expected) = &img.sha256 {
            if !expected.eq_ignore_ascii_case(&sha) {
                return Err(Error::ImageMismatch {
                    group,
                    filename: name,
                    what: "sha256",
                    expected: expected.clone(),
                    actual: sha,
                });
            }
        }
        if let Some(expected) = img.size {
            if expected != size {
                return Err(Error::ImageMismatch {
                    group,
                    filename: name,
                    what: "size",
                    expected: expected.to_string(),
                    actual: size.to_string(),
                });
            }
        }
        manifest.images[idx].sha256 = Some(sha);
        manifest.images[idx].size = Some(size);
    }

    // Scripts and any other files, then the generated indexes.
    for (name, path) in &content.files {
        if added.contains(name) || indexes.iter().any(|(n, _)| n == name) {
            continue;
        }
        let mut f =
            File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        writer.add_file(name, &mut f, file_mode(path)?)?;
    }
    for (name, data) in &indexes {
        writer.add_file(name, &mut data.as_slice(), 0o644)?;
    }
    let inner = manifest.to_text();
    writer.add_file(MANIFEST_NAME, &mut inner.as_bytes(), 0o644)?;
    let squashfs_size = writer.finish()?;

    let dest = out.dest().to_path_buf();
    let mut file = out
        .file()
        .try_clone()
        .map_err(|e| Error::io(format!("writing {}", dest.display()), e))?;
    let sig = match format {
        Format::Plain => {
            progress.stage("Signing", squashfs_size);
            file.seek(SeekFrom::Start(0))
                .map_err(|e| Error::io(format!("reading back {}", dest.display()), e))?;
            let mut reader = (&file).take(squashfs_size);
            let sig = opts
                .signer
                .sign_detached(&mut reader, squashfs_size, |d| progress.advance(d))?;
            progress.finish();
            sig
        }
        Format::Verity => {
            if squashfs_size <= verity::BLOCK_SIZE as u64 {
                return Err(Error::Content(format!(
                    "the squashfs is only {squashfs_size} bytes; a verity bundle needs more than 4096"
                )));
            }
            let mut salt = [0u8; 32];
            openssl::rand::rand_bytes(&mut salt)
                .map_err(|e| Error::Signature(format!("random salt: {e}")))?;
            progress.stage("Computing verity hash tree", squashfs_size);
            file.seek(SeekFrom::Start(0))
                .map_err(|e| Error::io(format!("reading back {}", dest.display()), e))?;
            let tree = verity::compute(
                &mut (&file).take(squashfs_size),
                squashfs_size,
                &salt,
                |d| progress.advance(d),
            )
            .map_err(|e| Error::io(format!("reading back {}", dest.display()), e))?;
            progress.finish();
            file.seek(SeekFrom::End(0))
                .and_then(|_| file.write_all(&tree.tree))
                .map_err(|e| Error::io(format!("writing {}", dest.display()), e))?;
            let mut signed = manifest.clone();
            signed.bundle.verity_hash = Some(hex::encode(tree.root));
            signed.bundle.verity_salt = Some(hex::encode(salt));
            signed.bundle.verity_size = Some(tree.tree.len() as u64);
            manifest = signed;
            opts.signer.sign_inline(manifest.to_text().as_bytes())?
        }
        Format::Crypt => return Err(Error::Unsupported("creating crypt bundles".into())),
    };
    append_signature(&mut file, &sig, &dest)?;
    if let Some(v) = &opts.verify {
        let mut check = Bundle::open(out.temp_path())?;
        check.verify(v, false, progress)?;
    }
    out.commit()?;
    Ok(manifest)
}

fn write_with_payload(bundle: &Bundle, sig: &[u8], output: &Path) -> Result<PathBuf> {
    let mut out = AtomicOutput::create(output)?;
    let dest = out.dest().to_path_buf();
    let mut reader = bundle.payload_reader(0, bundle.payload_size())?;
    let copied = std::io::copy(&mut reader, out.file())
        .map_err(|e| Error::io(format!("writing {}", dest.display()), e))?;
    if copied != bundle.payload_size() {
        return Err(Error::io(
            format!("reading {}", bundle.path().display()),
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "bundle shrank while being copied",
            ),
        ));
    }
    append_signature(out.file(), sig, &dest)?;
    out.commit()
}

/// Writes `bundle` signed by `signer` to `output`. The existing signature
/// is checked first with `verify` (pass `None` only to re-sign a bundle whose
/// signer is not trusted here, e.g. a development key unknown to this
/// keyring).
pub fn resign(
    bundle: &mut Bundle,
    verify: Option<&VerifyOptions>,
    signer: &Signer,
    output: &Path,
    progress: &mut dyn Progress,
) -> Result<PathBuf> {
    let info = bundle.inspect(verify, progress)?;
    let sig = match info.format {
        Format::Plain => {
            let len = bundle.payload_size();
            progress.stage("Signing", len);
            let mut reader = bundle.payload_reader(0, len)?;
            let s = signer.sign_detached(&mut reader, len, |d| progress.advance(d))?;
            progress.finish();
            s
        }
        Format::Verity => {
            let mut old = Signature::from_der(bundle.signature_der())?;
            let content = old.unverified_content()?;
            signer.sign_inline(&content)?
        }
        Format::Crypt => return Err(Error::Unsupported("re-signing crypt bundles".into())),
    };
    write_with_payload(bundle, &sig, output)
}

/// Writes `bundle` with the signature `new_sig` (DER) to `output`. The new
/// signature must be of the same kind; for verity bundles its manifest must
/// describe the same payload. With `verify`, the new signature is checked
/// before anything is written.
pub fn replace_signature(
    bundle: &mut Bundle,
    new_sig: &[u8],
    verify: Option<&VerifyOptions>,
    output: &Path,
    progress: &mut dyn Progress,
) -> Result<PathBuf> {
    let mut new = Signature::from_der(new_sig)?;
    let old_detached = bundle.signature().is_detached();
    if new.is_detached() != old_detached {
        return Err(Error::FormatMismatch(format!(
            "the bundle has a {} signature but the new one is {}",
            if old_detached {
                "detached (plain)"
            } else {
                "inline (verity)"
            },
            if new.is_detached() {
                "detached"
            } else {
                "inline"
            }
        )));
    }
    if old_detached {
        if let Some(v) = verify {
            let len = bundle.payload_size();
            progress.stage("Verifying new signature", len);
            let mut reader = bundle.payload_reader(0, len)?;
            new.verify_detached(v, &mut reader, len, |d| progress.advance(d))?;
            progress.finish();
        }
    } else {
        let new_content = match verify {
            Some(v) => new.verify_inline(v)?.0,
            None => new.unverified_content()?,
        };
        let mut old = Signature::from_der(bundle.signature_der())?;
        let old_m = Manifest::parse(&old.unverified_content()?)
            .map_err(|e| Error::manifest("old signed manifest", e))?;
        let new_m =
            Manifest::parse(&new_content).map_err(|e| Error::manifest("new signed manifest", e))?;
        if (
            old_m.bundle.verity_hash,
            old_m.bundle.verity_salt,
            old_m.bundle.verity_size,
        ) != (
            new_m.bundle.verity_hash,
            new_m.bundle.verity_salt,
            new_m.bundle.verity_size,
        ) {
            return Err(Error::FormatMismatch(
                "the new signature's manifest describes a different payload (verity parameters differ)".into(),
            ));
        }
    }
    write_with_payload(bundle, new_sig, output)
}
