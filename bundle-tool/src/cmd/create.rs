//! `bundle-tool create`.

use crate::cli::{CompressionArg, CreateArgs, FormatArg, UsageError};
use anyhow::{Context, Result};
use ota_bundle::manifest::{Image, Manifest, Update};
use ota_bundle::squashfs::{Compressor, Options};
use ota_bundle::{Content, CreateOptions, Format, Progress, Signer};
use std::path::PathBuf;

/// Parses `CLASS[.VARIANT]=FILE`.
fn parse_image(spec: &str, adaptive: bool) -> Result<(Image, PathBuf)> {
    let (target, file) = spec
        .split_once('=')
        .ok_or_else(|| UsageError(format!("--image {spec:?}: expected CLASS[.VARIANT]=FILE")))?;
    let (class, variant) = match target.split_once('.') {
        Some((c, v)) => (c, Some(v.to_string())),
        None => (target, None),
    };
    if class.is_empty() || variant.as_deref() == Some("") {
        return Err(UsageError(format!("--image {spec:?}: empty slot class or variant")).into());
    }
    let path = PathBuf::from(file);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| UsageError(format!("--image {spec:?}: {file} is not a file name")))?;
    Ok((
        Image {
            slotclass: class.into(),
            variant,
            filename: Some(name),
            adaptive: if adaptive {
                vec!["block-hash-index".into()]
            } else {
                vec![]
            },
            ..Image::default()
        },
        path,
    ))
}

pub(crate) fn run(a: CreateArgs, progress: &mut dyn Progress) -> Result<()> {
    let (content, output) = if a.image.is_empty() {
        if a.paths.len() != 2 {
            return Err(
                UsageError("expected CONTENT_DIR OUTPUT (or --image ... OUTPUT)".into()).into(),
            );
        }
        if a.compatible.is_some()
            || a.bundle_version.is_some()
            || a.description.is_some()
            || a.build.is_some()
        {
            return Err(UsageError(
                "--compatible/--version/--description/--build go with --image; a content directory has its own manifest".into(),
            )
            .into());
        }
        let content = Content::from_dir(&a.paths[0])
            .with_context(|| format!("reading content directory {}", a.paths[0].display()))?;
        (content, a.paths[1].clone())
    } else {
        if a.paths.len() != 1 {
            return Err(UsageError("with --image, give only OUTPUT".into()).into());
        }
        let compatible = a
            .compatible
            .clone()
            .ok_or_else(|| UsageError("--compatible is required with --image".into()))?;
        let mut manifest = Manifest {
            update: Update {
                compatible,
                version: a.bundle_version.clone(),
                description: a.description.clone(),
                build: a.build.clone(),
            },
            ..Manifest::default()
        };
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        for spec in &a.image {
            let (img, path) = parse_image(spec, a.adaptive)?;
            let name = img.filename.clone().unwrap_or_default();
            match files.iter().find(|(n, _)| *n == name) {
                Some((_, p)) if *p != path => {
                    return Err(UsageError(format!(
                        "two different --image files are both called {name}"
                    ))
                    .into())
                }
                Some(_) => {}
                None => files.push((name, path)),
            }
            manifest.images.push(img);
        }
        (Content::from_parts(manifest, files)?, a.paths[0].clone())
    };
    let signer = Signer::load(&a.sign.cert, &a.sign.key, &a.sign.intermediate)
        .context("loading the signing key")?;
    for c in signer.expiring_within(30 * 86_400) {
        eprintln!(
            "bundle-tool: warning: certificate '{}' expires {}",
            c.subject, c.not_after
        );
    }
    let verify = match &a.keyring {
        Some(k) => {
            let mut o = ota_bundle::VerifyOptions::new(ota_bundle::Keyring::load(k)?);
            o.purpose = super::purpose(a.check_purpose);
            Some(o)
        }
        None => None,
    };
    let opts = CreateOptions {
        signer: &signer,
        format: a.format.map(|f| match f {
            FormatArg::Plain => Format::Plain,
            FormatArg::Verity => Format::Verity,
        }),
        squashfs: Options {
            compressor: match a.compression {
                CompressionArg::Gzip => Compressor::Gzip,
                CompressionArg::Zstd => Compressor::Zstd,
                CompressionArg::Xz => Compressor::Xz,
            },
            level: a.compression_level,
            block_size: a.block_size,
        },
        verify,
    };
    let manifest = ota_bundle::create(&content, &output, &opts, progress)
        .with_context(|| format!("creating {}", output.display()))?;
    eprintln!(
        "bundle-tool: created {} ({} bundle for '{}', version {})",
        output.display(),
        manifest.bundle.format,
        manifest.update.compatible,
        manifest.update.version.as_deref().unwrap_or("unset")
    );
    Ok(())
}
