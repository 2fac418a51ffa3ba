//! `resign`, `extract-signature` and `replace-signature`: moving a bundle
//! from one signer to another without rebuilding it, including signing on a
//! machine (or HSM) that never sees the payload of a verity bundle.

use crate::cli::{ExtractSignatureArgs, ReplaceSignatureArgs, ResignArgs};
use anyhow::{Context, Result};
use ota_bundle::output::AtomicOutput;
use ota_bundle::{Progress, Signer};
use std::io::Write;

pub(crate) fn resign(a: ResignArgs, progress: &mut dyn Progress) -> Result<()> {
    let opts = super::verify_options(&a.verify, a.no_verify)?;
    let signer = Signer::load(&a.sign.cert, &a.sign.key, &a.sign.intermediate)
        .context("loading the signing key")?;
    let mut b = super::open(&a.input)?;
    ota_bundle::resign(&mut b, opts.as_ref(), &signer, &a.output, progress)
        .with_context(|| format!("re-signing {} to {}", a.input.display(), a.output.display()))?;
    eprintln!(
        "bundle-tool: wrote {} signed by '{}'",
        a.output.display(),
        subject(&signer)
    );
    Ok(())
}

fn subject(s: &Signer) -> String {
    ota_bundle::signature::CertInfo::of(s.certificate()).subject
}

pub(crate) fn extract(a: ExtractSignatureArgs, progress: &mut dyn Progress) -> Result<()> {
    let opts = super::verify_options(&a.verify, a.no_verify)?;
    let mut b = super::open(&a.bundle)?;
    b.inspect(opts.as_ref(), progress)
        .with_context(|| format!("checking {}", a.bundle.display()))?;
    let mut out = AtomicOutput::create(&a.output)?;
    out.file()
        .write_all(b.signature_der())
        .with_context(|| format!("writing {}", a.output.display()))?;
    out.commit()?;
    Ok(())
}

pub(crate) fn replace(a: ReplaceSignatureArgs, progress: &mut dyn Progress) -> Result<()> {
    let opts = super::verify_options(&a.verify, a.no_verify)?;
    let sig = std::fs::read(&a.signature)
        .with_context(|| format!("reading {}", a.signature.display()))?;
    let mut b = super::open(&a.input)?;
    ota_bundle::replace_signature(&mut b, &sig, opts.as_ref(), &a.output, progress)
        .with_context(|| format!("replacing the signature of {}", a.input.display()))?;
    eprintln!("bundle-tool: wrote {}", a.output.display());
    Ok(())
}
