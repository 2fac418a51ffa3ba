//! `bundle-tool info` and `bundle-tool verify`, and how a bundle is shown.

use crate::cli::{InfoArgs, OutputFormat, VerifyArgs};
use anyhow::{Context, Result};
use ota_bundle::{BundleInfo, Progress};
use serde_json::{json, Value};
use std::io::Write;

pub(crate) fn info(a: InfoArgs, progress: &mut dyn Progress) -> Result<()> {
    let opts = super::verify_options(&a.verify, a.no_verify)?;
    let mut b = super::open(&a.bundle)?;
    let info = b
        .inspect(opts.as_ref(), progress)
        .with_context(|| format!("checking {}", a.bundle.display()))?;
    print(&info, a.output_format)
}

pub(crate) fn verify(a: VerifyArgs, progress: &mut dyn Progress) -> Result<()> {
    let opts = super::required(super::verify_options(&a.verify, false)?)?;
    let mut b = super::open(&a.bundle)?;
    let info = b
        .verify(&opts, a.check_images, progress)
        .with_context(|| format!("verifying {}", a.bundle.display()))?;
    if a.output_format == OutputFormat::Readable {
        let mut checked = vec!["signature"];
        if info.verity_checked {
            checked.push("verity hash tree");
        }
        if info.images_checked {
            checked.push("images");
        }
        println!(
            "{}: OK ({} checked)",
            a.bundle.display(),
            checked.join(", ")
        );
        Ok(())
    } else {
        print(&info, a.output_format)
    }
}

/// The JSON shape: `rauc info --output-format=json`'s fields, then ours.
pub fn to_json(info: &BundleInfo) -> Value {
    let m = &info.manifest;
    let b = &m.bundle;
    json!({
        "compatible": m.update.compatible,
        "version": m.update.version,
        "description": m.update.description,
        "build": m.update.build,
        "hooks": m.hooks.as_ref().map(|h| h.hooks.clone()).unwrap_or_default(),
        "images": m.images.iter().map(|i| json!({ i.slotclass.clone(): {
            "variant": i.variant,
            "filename": i.filename,
            "checksum": i.sha256,
            "size": i.size,
            "hooks": i.hooks,
            "adaptive": i.adaptive,
        }})).collect::<Vec<_>>(),
        "format": b.format,
        "verity": (b.verity_hash.is_some()).then(|| json!({
            "hash": b.verity_hash, "salt": b.verity_salt, "size": b.verity_size,
        })),
        "size": info.size,
        "payload_size": info.payload_size,
        "signature": info.signature,
        "checked": {
            "signature": info.signature.verified,
            "verity_tree": info.verity_checked,
            "images": info.images_checked,
        },
    })
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("(null)")
}

/// Text in the layout of `rauc info`.
pub fn readable(info: &BundleInfo) -> String {
    let m = &info.manifest;
    let mut s = String::new();
    let hooks = m
        .hooks
        .as_ref()
        .map(|h| h.hooks.join(" "))
        .unwrap_or_default();
    s += &format!("Compatible: \t'{}'\n", m.update.compatible);
    s += &format!("Version:    \t'{}'\n", opt(&m.update.version));
    s += &format!("Description:\t'{}'\n", opt(&m.update.description));
    s += &format!("Build:      \t'{}'\n", opt(&m.update.build));
    s += &format!("Hooks:      \t'{hooks}'\n");
    s += &format!("Bundle Format: \t{}\n", m.bundle.format);
    if let (Some(h), Some(salt), Some(size)) = (
        &m.bundle.verity_hash,
        &m.bundle.verity_salt,
        m.bundle.verity_size,
    ) {
        s += &format!(
            "  Verity Salt: \t'{salt}'\n  Verity Hash: \t'{h}'\n  Verity Size: \t{size}\n"
        );
    }
    s += &format!(
        "\n{} Image{}:\n",
        m.images.len(),
        if m.images.len() == 1 { "" } else { "s" }
    );
    for i in &m.images {
        s += &format!("  [{}]\n", i.slotclass);
        if let Some(v) = &i.variant {
            s += &format!("\tVariant:   {v}\n");
        }
        s += &format!("\tFilename:  {}\n", i.filename.as_deref().unwrap_or(""));
        s += &format!("\tChecksum:  {}\n", i.sha256.as_deref().unwrap_or(""));
        s += &format!(
            "\tSize:      {}\n",
            i.size.map(|v| v.to_string()).unwrap_or_default()
        );
        s += &format!("\tHooks:     {}\n", i.hooks.join(" "));
        if !i.adaptive.is_empty() {
            s += &format!("\tAdaptive:  {}\n", i.adaptive.join(" "));
        }
    }
    s += &format!(
        "\nCertificate Chain{}:\n",
        if info.signature.verified {
            ""
        } else {
            " (NOT VERIFIED: embedded certificates)"
        }
    );
    for (n, c) in info.signature.chain.iter().enumerate() {
        s += &format!(
            "{n:2} Subject: {}\n   Issuer: {}\n   SPKI sha256: {}\n   Not Before: {}\n   Not After:  {}\n",
            c.subject, c.issuer, c.spki_sha256, c.not_before, c.not_after
        );
    }
    s
}

fn print(info: &BundleInfo, format: OutputFormat) -> Result<()> {
    let text = match format {
        OutputFormat::Readable => readable(info),
        OutputFormat::Json => format!("{}\n", to_json(info)),
        OutputFormat::JsonPretty => format!("{}\n", serde_json::to_string_pretty(&to_json(info))?),
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("writing to stdout")?;
    Ok(())
}
