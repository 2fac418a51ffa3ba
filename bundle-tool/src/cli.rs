//! Command-line definitions. Subcommands and flags follow `rauc`'s names
//! (`--cert`, `--key`, `--intermediate`, `--keyring`, `--no-verify`,
//! `--no-check-time`, `--output-format`) so build scripts move over with a
//! changed program name.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// An error in how the tool was called, found after clap's own checks.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

const AFTER_HELP: &str = "\
Exit status: 0 success; 1 the bundle or an input is not acceptable (signature,
manifest, payload or image mismatch); 2 wrong usage; 3 an operating-system
problem (missing file, full disk, output already exists).

Keys and certificates may be PEM files or pkcs11: URIs (with
RAUC_PKCS11_MODULE and RAUC_PKCS11_PIN set, as for rauc).";

/// Build, sign, verify and inspect RAUC-compatible update bundles.
#[derive(Debug, Parser)]
#[command(name = "bundle-tool", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Never show progress bars (they appear only when stderr is a terminal).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a signed bundle from a content directory (as `rauc bundle`),
    /// or from image files with the manifest values given as flags.
    Create(CreateArgs),
    /// Check the signature and show what a bundle contains (as `rauc info`).
    Info(InfoArgs),
    /// Verify a bundle completely: signature, verity hash tree, and with
    /// --check-images every image against its manifest entry.
    Verify(VerifyArgs),
    /// Verify a bundle and unpack its files into a new directory.
    Extract(ExtractArgs),
    /// Re-sign a bundle with another key (e.g. development to release).
    Resign(ResignArgs),
    /// Write a bundle's signature (DER) to a file, for signing elsewhere.
    ExtractSignature(ExtractSignatureArgs),
    /// Write a copy of a bundle carrying a signature made elsewhere.
    ReplaceSignature(ReplaceSignatureArgs),
}

/// Signing identity.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Signer certificate (PEM file or pkcs11: URI).
    #[arg(long, value_name = "PEM|URI")]
    pub cert: String,
    /// Signer private key (PEM file or pkcs11: URI).
    #[arg(long, value_name = "PEM|URI")]
    pub key: String,
    /// Intermediate certificate to embed; repeat for several.
    #[arg(long, value_name = "PEM")]
    pub intermediate: Vec<PathBuf>,
}

/// Certificate purpose (`check-purpose` in RAUC's system.conf).
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum PurposeArg {
    /// OpenSSL's S/MIME default; fails for codeSigning-only signers.
    Default,
    /// RAUC's codesign purpose: signer needs EKU codeSigning.
    Codesign,
    /// No purpose check.
    Any,
    /// S/MIME signing.
    Smimesign,
}

/// How signatures are checked.
#[derive(Debug, Args)]
pub struct VerifyFlags {
    /// Trusted certificates: a PEM file, or a directory of PEM files.
    #[arg(long, value_name = "PEM|DIR", env = "BUNDLE_TOOL_KEYRING")]
    pub keyring: Option<PathBuf>,
    /// Certificate purpose the signer must have.
    #[arg(long, value_enum, default_value = "codesign")]
    pub check_purpose: PurposeArg,
    /// Do not check certificate validity periods.
    #[arg(long, conflicts_with = "use_signing_time")]
    pub no_check_time: bool,
    /// Check validity at the bundle's signing time instead of now.
    #[arg(long)]
    pub use_signing_time: bool,
    /// Accept a chain that ends at a trusted intermediate.
    #[arg(long)]
    pub allow_partial_chain: bool,
}

/// Output formats of `info` and `verify`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Text for people.
    #[default]
    Readable,
    /// One line of JSON.
    Json,
    /// Indented JSON.
    JsonPretty,
}

/// Squashfs compression.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum CompressionArg {
    /// gzip, as `rauc bundle` uses by default.
    Gzip,
    /// zstd.
    Zstd,
    /// xz.
    Xz,
}

/// Bundle formats that can be created.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FormatArg {
    /// squashfs with a detached signature.
    Plain,
    /// squashfs with a dm-verity hash tree; needed for streaming installs.
    Verity,
}

/// `create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub sign: SignArgs,
    /// Bundle format (default: the manifest's, else plain).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Verify the new bundle against this keyring before publishing it.
    #[arg(long, value_name = "PEM|DIR")]
    pub keyring: Option<PathBuf>,
    /// Certificate purpose for that check.
    #[arg(long, value_enum, default_value = "codesign")]
    pub check_purpose: PurposeArg,
    /// Squashfs compression.
    #[arg(long, value_enum, default_value = "gzip")]
    pub compression: CompressionArg,
    /// Compression level (default: the compressor's strongest usual level).
    #[arg(long)]
    pub compression_level: Option<u32>,
    /// Squashfs block size in bytes (power of two, 4 KiB to 1 MiB).
    #[arg(long, default_value_t = 128 * 1024)]
    pub block_size: u32,
    /// `[update] compatible`, when building from --image files.
    #[arg(long)]
    pub compatible: Option<String>,
    /// `[update] version`.
    #[arg(long = "version", value_name = "VERSION")]
    pub bundle_version: Option<String>,
    /// `[update] description`.
    #[arg(long)]
    pub description: Option<String>,
    /// `[update] build`.
    #[arg(long)]
    pub build: Option<String>,
    /// An image: SLOTCLASS[.VARIANT]=FILE; repeat for several. Replaces
    /// CONTENT_DIR.
    #[arg(long, value_name = "CLASS[.VARIANT]=FILE")]
    pub image: Vec<String>,
    /// Mark every --image adaptive (writes a block hash index).
    #[arg(long)]
    pub adaptive: bool,
    /// CONTENT_DIR OUTPUT, or only OUTPUT with --image.
    #[arg(value_name = "CONTENT_DIR|OUTPUT", num_args = 1..=2, required = true)]
    pub paths: Vec<PathBuf>,
}

/// `info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub verify: VerifyFlags,
    /// Show the bundle without checking its signature.
    #[arg(long)]
    pub no_verify: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "readable")]
    pub output_format: OutputFormat,
    /// The bundle.
    pub bundle: PathBuf,
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub verify: VerifyFlags,
    /// Also decompress every image and compare size and SHA-256.
    #[arg(long)]
    pub check_images: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "readable")]
    pub output_format: OutputFormat,
    /// The bundle.
    pub bundle: PathBuf,
}

/// `extract`.
#[derive(Debug, Args)]
pub struct ExtractArgs {
    #[command(flatten)]
    pub verify: VerifyFlags,
    /// The bundle.
    pub bundle: PathBuf,
    /// Directory to create.
    pub dir: PathBuf,
}

/// `resign`.
#[derive(Debug, Args)]
pub struct ResignArgs {
    #[command(flatten)]
    pub sign: SignArgs,
    #[command(flatten)]
    pub verify: VerifyFlags,
    /// Re-sign without checking the existing signature.
    #[arg(long)]
    pub no_verify: bool,
    /// The bundle.
    pub input: PathBuf,
    /// The re-signed bundle to write.
    pub output: PathBuf,
}

/// `extract-signature`.
#[derive(Debug, Args)]
pub struct ExtractSignatureArgs {
    #[command(flatten)]
    pub verify: VerifyFlags,
    /// Write the signature without checking it.
    #[arg(long)]
    pub no_verify: bool,
    /// The bundle.
    pub bundle: PathBuf,
    /// File to write the DER signature to.
    pub output: PathBuf,
}

/// `replace-signature`.
#[derive(Debug, Args)]
pub struct ReplaceSignatureArgs {
    #[command(flatten)]
    pub verify: VerifyFlags,
    /// Accept the new signature without checking it.
    #[arg(long)]
    pub no_verify: bool,
    /// The bundle.
    pub input: PathBuf,
    /// The new signature (DER).
    pub signature: PathBuf,
    /// The bundle to write.
    pub output: PathBuf,
}
