//! `bundle-tool extract`.

use crate::cli::ExtractArgs;
use anyhow::{Context, Result};
use ota_bundle::Progress;

pub(crate) fn run(a: ExtractArgs, progress: &mut dyn Progress) -> Result<()> {
    let opts = super::required(super::verify_options(&a.verify, false)?)?;
    let mut b = super::open(&a.bundle)?;
    b.extract(&opts, &a.dir, progress)
        .with_context(|| format!("extracting {} to {}", a.bundle.display(), a.dir.display()))?;
    eprintln!(
        "bundle-tool: extracted {} to {}",
        a.bundle.display(),
        a.dir.display()
    );
    Ok(())
}
