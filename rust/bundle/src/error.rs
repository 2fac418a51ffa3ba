//! The one error type of this crate. Each variant says what was wrong with
//! which input, so a command-line tool can print it as it is.

use crate::manifest::ManifestError;
use std::path::PathBuf;

/// Everything that can go wrong reading, checking or writing a bundle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation failed; `context` says which.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a bundle (too short, bad trailer).
    #[error("{path}: not a valid bundle: {reason}")]
    NotABundle {
        /// The bundle file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The signature does not verify, or cannot be made.
    #[error("signature verification failed: {0}")]
    Signature(String),
    /// The keyring cannot be used.
    #[error("keyring {path}: {reason}")]
    Keyring {
        /// Keyring path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A signing key or certificate cannot be used.
    #[error("{0}")]
    Key(String),
    /// The manifest is malformed or not acceptable here.
    #[error("manifest ({origin}): {source}")]
    Manifest {
        /// Where the manifest came from.
        origin: String,
        /// What is wrong.
        #[source]
        source: ManifestError,
    },
    /// Reading or writing the squashfs failed.
    #[error(transparent)]
    Squashfs(#[from] crate::squashfs::Error),
    /// The payload does not match what the signature covers.
    #[error("bundle payload is corrupted: {0}")]
    Payload(String),
    /// An image does not match its manifest entry.
    #[error(
        "image [{group}] {filename}: {what} mismatch: manifest says {expected}, file has {actual}"
    )]
    ImageMismatch {
        /// Manifest group of the image.
        group: String,
        /// Image file name.
        filename: String,
        /// `size` or `sha256`.
        what: &'static str,
        /// Value in the manifest.
        expected: String,
        /// Value found.
        actual: String,
    },
    /// The bundle's parts disagree about its format.
    #[error("bundle format mismatch: {0}")]
    FormatMismatch(String),
    /// A content directory or input file set cannot be bundled.
    #[error("content: {0}")]
    Content(String),
    /// Refusing to overwrite an existing output.
    #[error("{0}: output already exists (remove it first; bundles are never overwritten)")]
    OutputExists(PathBuf),
    /// Something this version does not do.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl Error {
    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn manifest(origin: impl Into<String>, source: ManifestError) -> Error {
        Error::Manifest {
            origin: origin.into(),
            source,
        }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
