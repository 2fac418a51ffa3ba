//! CMS signatures, made and checked the way RAUC makes and checks them.
//!
//! A bundle's signature is a DER-encoded CMS SignedData with SHA-256, the
//! signer identified by issuer and serial number, the signer certificate and
//! any intermediates embedded, and exactly the signed attributes
//! contentType, signingTime and messageDigest (no S/MIME capabilities).
//! Plain bundles carry it *detached* over the whole payload; verity bundles
//! carry the manifest *inside* it.
//!
//! Verification mirrors RAUC: a keyring of trusted certificates (a file, or
//! every PEM file in a directory), a certificate purpose (`check-purpose`:
//! OpenSSL's S/MIME signing by default, `any`, or RAUC's `codesign`), the
//! current time or the bundle's signing time, and optionally partial chains.
//! Detached payloads are streamed through the digest, so checking a bundle
//! of any size needs only a small buffer.

mod ffi;
mod pkcs11;

use crate::error::Error;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
use openssl::x509::{X509NameRef, X509PurposeId, X509Ref, X509StoreContext, X509};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest signature RAUC accepts.
pub const MAX_SIGNATURE_SIZE: u64 = 64 * 1024;

/// Which certificate purpose the signer chain must satisfy (`check-purpose`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Purpose {
    /// OpenSSL's default for CMS: S/MIME signing. A signer with extended key
    /// usage codeSigning fails this, exactly as with RAUC's default.
    #[default]
    Default,
    /// No purpose check.
    Any,
    /// RAUC's `codesign`: the signer must have extended key usage codeSigning.
    Codesign,
    /// Any other OpenSSL purpose short name, e.g. `smimesign`.
    Named(String),
}

impl std::str::FromStr for Purpose {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "" | "default" => Purpose::Default,
            "any" => Purpose::Any,
            "codesign" => Purpose::Codesign,
            other => Purpose::Named(other.to_string()),
        })
    }
}

/// Which time certificates are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckTime {
    /// The current time (RAUC's default).
    #[default]
    Now,
    /// The signingTime inside the signature (`use-bundle-signing-time`).
    SigningTime,
    /// No validity period check (`--no-check-time`).
    Never,
}

/// Trusted certificates.
#[derive(Clone)]
pub struct Keyring {
    certs: Vec<X509>,
    source: PathBuf,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("source", &self.source)
            .field("certificates", &self.certs.len())
            .finish()
    }
}

impl Keyring {
    /// Loads every certificate from a PEM file, or from every regular file
    /// in a directory that holds PEM certificates.
    pub fn load(path: &Path) -> Result<Keyring, Error> {
        let keyring_err = |reason: String| Error::Keyring {
            path: path.to_path_buf(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| keyring_err(e.to_string()))?;
        let mut certs = Vec::new();
        if meta.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| keyring_err(e.to_string()))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            for p in entries {
                let pem =
                    std::fs::read(&p).map_err(|e| keyring_err(format!("{}: {e}", p.display())))?;
                if let Ok(mut c) = X509::stack_from_pem(&pem) {
                    certs.append(&mut c);
                }
            }
        } else {
            let pem = std::fs::read(path).map_err(|e| keyring_err(e.to_string()))?;
            certs = X509::stack_from_pem(&pem)
                .map_err(|e| keyring_err(format!("not PEM certificates: {e}")))?;
        }
        if certs.is_empty() {
            return Err(keyring_err("contains no certificates".into()));
        }
        Ok(Keyring {
            certs,
            source: path.to_path_buf(),
        })
    }

    /// Where the keyring was loaded from.
    pub fn source(&self) -> &Path {
        &self.source
    }
}

/// How to check a signature.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Trusted certificates.
    pub keyring: Keyring,
    /// Required purpose.
    pub purpose: Purpose,
    /// Time to check validity against.
    pub check_time: CheckTime,
    /// Accept a chain that ends in a trusted intermediate.
    pub allow_partial_chain: bool,
}

impl VerifyOptions {
    /// Defaults matching RAUC's: default purpose, current time, full chains.
    pub fn new(keyring: Keyring) -> Self {
        VerifyOptions {
            keyring,
            purpose: Purpose::Default,
            check_time: CheckTime::Now,
            allow_partial_chain: false,
        }
    }

    fn store(&self, signing_time: Option<i64>) -> Result<X509Store, Error> {
        let ssl = |e: ErrorStack| Error::Signature(format!("setting up the keyring: {e}"));
        let mut b = X509StoreBuilder::new().map_err(ssl)?;
        for c in &self.keyring.certs {
            b.add_cert(c.clone()).map_err(ssl)?;
        }
        let mut param = X509VerifyParam::new().map_err(ssl)?;
        let mut flags = X509VerifyFlags::empty();
        if self.allow_partial_chain {
            flags |= X509VerifyFlags::PARTIAL_CHAIN;
        }
        match self.check_time {
            CheckTime::Now => {}
            CheckTime::Never => flags |= X509VerifyFlags::NO_CHECK_TIME,
            CheckTime::SigningTime => {
                let t = signing_time.ok_or_else(|| {
                    Error::Signature(
                        "the signature has no signing time to check certificates against".into(),
                    )
                })?;
                param.set_time(t as _);
            }
        }
        param.set_flags(flags).map_err(ssl)?;
        b.set_param(&param).map_err(ssl)?;
        let purpose = match &self.purpose {
            Purpose::Default => None,
            Purpose::Any => Some(X509PurposeId::ANY),
            Purpose::Codesign => Some(X509PurposeId::from_raw(
                ffi::codesign_purpose().map_err(ssl)?,
            )),
            Purpose::Named(name) => Some(
                openssl::x509::X509PurposeRef::get_by_sname(name)
                    .and_then(openssl::x509::X509PurposeRef::from_idx)
                    .map(|p| p.purpose())
                    .map_err(|_| {
                        Error::Signature(format!("unknown certificate purpose {name:?}"))
                    })?,
            ),
        };
        if let Some(p) = purpose {
            b.set_purpose(p).map_err(ssl)?;
        }
        Ok(b.build())
    }
}

/// What can be said about one certificate in a signer's chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertInfo {
    /// Subject in OpenSSL's one-line form, e.g. `O = Org, CN = Signer`.
    pub subject: String,
    /// Issuer, same form.
    pub issuer: String,
    /// SHA-256 over the DER SubjectPublicKeyInfo, colon-separated hex.
    pub spki_sha256: String,
    /// Start of validity, e.g. `Nov 29 12:33:51 2026 GMT`.
    pub not_before: String,
    /// End of validity.
    pub not_after: String,
    /// End of validity, seconds since the epoch.
    pub not_after_unix: Option<i64>,
}

impl CertInfo {
    /// Describes `cert`.
    pub fn of(cert: &X509Ref) -> CertInfo {
        let spki = cert
            .public_key()
            .and_then(|k| k.public_key_to_der())
            .map(|der| openssl::sha::sha256(&der))
            .map(|d| {
                d.iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .unwrap_or_default();
        CertInfo {
            subject: oneline(cert.subject_name()),
            issuer: oneline(cert.issuer_name()),
            spki_sha256: spki,
            not_before: cert.not_before().to_string(),
            not_after: cert.not_after().to_string(),
            not_after_unix: ffi::asn1_time_to_unix(cert.not_after()),
        }
    }
}

fn oneline(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e
                .object()
                .nid()
                .short_name()
                .map(str::to_string)
                .unwrap_or_else(|_| e.object().to_string());
            let val = e.data().to_string().unwrap_or_default();
            format!("{key} = {val}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a checked (or, with `verified == false`, merely parsed) signature says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignatureInfo {
    /// Whether the signature was verified against a keyring.
    pub verified: bool,
    /// Detached (plain) or with inline content (verity).
    pub detached: bool,
    /// signingTime, seconds since the epoch.
    pub signing_time: Option<i64>,
    /// Signer first, then its issuers up to the trust anchor (or, when not
    /// verified, the certificates embedded in the signature).
    pub chain: Vec<CertInfo>,
}

/// A parsed CMS SignedData.
pub struct Signature {
    cms: CmsContentInfo,
}

fn verify_error(e: ErrorStack) -> Error {
    // OpenSSL puts the certificate verification result in the error data
    // ("Verify error:unable to get local issuer certificate"); that is the
    // part a person needs, so prefer it over the generic reason.
    for err in e.errors() {
        if let Some(data) = err.data() {
            if let Some(reason) = data.strip_prefix("Verify error:") {
                return Error::Signature(format!("Verify error: {reason}"));
            }
        }
    }
    let reasons: Vec<String> = e
        .errors()
        .iter()
        .map(|err| err.reason().unwrap_or("unknown error").to_string())
        .collect();
    Error::Signature(if reasons.is_empty() {
        "signature verification failed".into()
    } else {
        reasons.join("; ")
    })
}

impl Signature {
    /// Parses DER bytes.
    pub fn from_der(der: &[u8]) -> Result<Signature, Error> {
        let cms = CmsContentInfo::from_der(der)
            .map_err(|e| Error::Signature(format!("not a valid CMS structure: {e}")))?;
        Ok(Signature { cms })
    }

    /// The DER encoding.
    pub fn to_der(&self) -> Result<Vec<u8>, Error> {
        self.cms
            .to_der()
            .map_err(|e| Error::Signature(format!("encoding CMS: {e}")))
    }

    /// Detached signatures belong to plain bundles, inline ones to verity.
    pub fn is_detached(&self) -> bool {
        ffi::is_detached(&self.cms)
    }

    /// signingTime attribute, if any.
    pub fn signing_time(&self) -> Option<i64> {
        ffi::signing_time(&self.cms)
    }

    /// Describes the embedded certificates without checking anything.
    pub fn unverified_info(&self) -> SignatureInfo {
        SignatureInfo {
            verified: false,
            detached: self.is_detached(),
            signing_time: self.signing_time(),
            chain: ffi::embedded_certs(&self.cms)
                .iter()
                .map(CertInfo::of)
                .collect(),
        }
    }

    /// The inline content without checking the signature (for `info --no-verify`).
    pub fn unverified_content(&mut self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.cms
            .verify(
                None,
                None,
                None,
                Some(&mut out),
                CMSOptions::BINARY | CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::NOSIGS,
            )
            .map_err(|e| Error::Signature(format!("reading signed content: {e}")))?;
        Ok(out)
    }

    fn info_after_verify(&self, opts: &VerifyOptions) -> Result<SignatureInfo, Error> {
        let signing_time = self.signing_time();
        let signer = ffi::signers(&self.cms)
            .into_iter()
            .next()
            .ok_or_else(|| Error::Signature("no signer certificate found".into()))?;
        // Rebuild the chain the verification used, for display.
        let store = opts.store(signing_time)?;
        let untrusted = ffi::embedded_certs(&self.cms);
        let mut ctx = X509StoreContext::new().map_err(verify_error)?;
        let chain = ctx
            .init(&store, &signer, &untrusted, |c| {
                c.verify_cert()?;
                Ok(c.chain()
                    .map(|s| s.iter().map(CertInfo::of).collect::<Vec<_>>()))
            })
            .ok()
            .flatten()
            .unwrap_or_else(|| vec![CertInfo::of(&signer)]);
        Ok(SignatureInfo {
            verified: true,
            detached: self.is_detached(),
            signing_time,
            chain,
        })
    }

    fn check_certs_and_attributes(&mut self, opts: &VerifyOptions) -> Result<(), Error> {
        let store = opts.store(self.signing_time())?;
        // Certificates and the signature over the signed attributes; the
        // content digest is checked separately while streaming.
        self.cms
            .verify(
                None,
                Some(&store),
                Some(&[]),
                None,
                CMSOptions::BINARY | CMSOptions::NO_CONTENT_VERIFY,
            )
            .map_err(verify_error)
    }

    /// Verifies a detached signature over `len` bytes read from `payload`,
    /// streaming them; `progress` is called with the bytes done so far.
    pub fn verify_detached(
        &mut self,
        opts: &VerifyOptions,
        payload: &mut dyn Read,
        len: u64,
        mut progress: impl FnMut(u64),
    ) -> Result<SignatureInfo, Error> {
        if !self.is_detached() {
            return Err(Error::Signature(
                "expected a detached signature, found one with inline content".into(),
            ));
        }
        self.check_certs_and_attributes(opts)?;
        let mut sink = ffi::DigestSink::new(&self.cms).map_err(verify_error)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut done = 0u64;
        while done < len {
            let want = (buf.len() as u64).min(len - done) as usize;
            payload
                .read_exact(&mut buf[..want])
                .map_err(|e| Error::io("reading the bundle payload", e))?;
            sink.write(&buf[..want]).map_err(verify_error)?;
            done += want as u64;
            progress(done);
        }
        sink.finish_verifying().map_err(|e| {
            let err = verify_error(e);
            match err {
                Error::Signature(r) => {
                    Error::Signature(format!("payload does not match the signature ({r})"))
                }
                other => other,
            }
        })?;
        self.info_after_verify(opts)
    }

    /// Verifies a signature with inline content and returns the content.
    pub fn verify_inline(
        &mut self,
        opts: &VerifyOptions,
    ) -> Result<(Vec<u8>, SignatureInfo), Error> {
        if self.is_detached() {
            return Err(Error::Signature(
                "expected a signature with inline content, found a detached one".into(),
            ));
        }
        let store = opts.store(self.signing_time())?;
        let mut out = Vec::new();
        self.cms
            .verify(None, Some(&store), None, Some(&mut out), CMSOptions::BINARY)
            .map_err(verify_error)?;
        let info = self.info_after_verify(opts)?;
        Ok((out, info))
    }
}

/// Where a private key lives.
enum KeySource {
    Pem(PKey<Private>),
}

/// A signing identity: certificate, private key and intermediates to embed.
pub struct Signer {
    cert: X509,
    key: KeySource,
    intermediates: Vec<X509>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("subject", &oneline(self.cert.subject_name()))
            .field("intermediates", &self.intermediates.len())
            .finish_non_exhaustive()
    }
}

fn read_file(path: &str, what: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Key(format!("cannot read {what} {path}: {e}")))
}

impl Signer {
    /// Loads the signer from PEM files (or `pkcs11:` URIs through OpenSSL's pkcs11 engine).
    pub fn load(cert: &str, key: &str, intermediates: &[PathBuf]) -> Result<Signer, Error> {
        let cert_x = if cert.starts_with("pkcs11:") {
            pkcs11::load_certificate(cert)?
        } else {
            X509::from_pem(&read_file(cert, "certificate")?)
                .map_err(|e| Error::Key(format!("{cert} is not a PEM certificate: {e}")))?
        };
        let key_src = if key.starts_with("pkcs11:") {
            KeySource::Pem(pkcs11::load_private_key(key)?)
        } else {
            KeySource::Pem(
                PKey::private_key_from_pem(&read_file(key, "private key")?)
                    .map_err(|e| Error::Key(format!("{key} is not a PEM private key: {e}")))?,
            )
        };
        let KeySource::Pem(k) = &key_src;
        let matches = cert_x.public_key().map(|p| p.public_eq(k)).unwrap_or(false);
        if !matches {
            return Err(Error::Key(format!(
                "the private key {key} does not belong to the certificate {cert}"
            )));
        }
        let mut inter = Vec::new();
        for p in intermediates {
            let pem = std::fs::read(p).map_err(|e| {
                Error::Key(format!("cannot read intermediate {}: {e}", p.display()))
            })?;
            let mut certs = X509::stack_from_pem(&pem).map_err(|e| {
                Error::Key(format!("{} is not a PEM certificate: {e}", p.display()))
            })?;
            if certs.is_empty() {
                return Err(Error::Key(format!("{} holds no certificate", p.display())));
            }
            inter.append(&mut certs);
        }
        Ok(Signer {
            cert: cert_x,
            key: key_src,
            intermediates: inter,
        })
    }

    /// The signer certificate.
    pub fn certificate(&self) -> &X509Ref {
        &self.cert
    }

    /// Certificates of the signer and intermediates that expire within
    /// `seconds` from now (RAUC warns about 30 days).
    pub fn expiring_within(&self, seconds: i64) -> Vec<CertInfo> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        std::iter::once(&self.cert)
            .chain(self.intermediates.iter())
            .map(|c| CertInfo::of(c))
            .filter(|i| i.not_after_unix.is_some_and(|t| t - now < seconds))
            .collect()
    }

    fn cert_stack(&self) -> Result<Stack<X509>, Error> {
        let mut st = Stack::new().map_err(|e| Error::Signature(e.to_string()))?;
        for c in &self.intermediates {
            st.push(c.clone())
                .map_err(|e| Error::Signature(e.to_string()))?;
        }
        Ok(st)
    }

    fn pkey(&self) -> &PKey<Private> {
        match &self.key {
            KeySource::Pem(k) => k,
        }
    }

    /// Signs `len` bytes of `payload` with a detached signature, streaming.
    pub fn sign_detached(
        &self,
        payload: &mut dyn Read,
        len: u64,
        mut progress: impl FnMut(u64),
    ) -> Result<Vec<u8>, Error> {
        let certs = self.cert_stack()?;
        let sign_err = |e: ErrorStack| Error::Signature(format!("signing failed: {e}"));
        let cms = CmsContentInfo::sign(
            Some(&self.cert),
            Some(self.pkey()),
            Some(&certs),
            None,
            CMSOptions::BINARY
                | CMSOptions::NOSMIMECAP
                | CMSOptions::DETACHED
                | CMSOptions::PARTIAL,
        )
        .map_err(sign_err)?;
        let mut sink = ffi::DigestSink::new(&cms).map_err(sign_err)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut done = 0u64;
        while done < len {
            let want = (buf.len() as u64).min(len - done) as usize;
            payload
                .read_exact(&mut buf[..want])
                .map_err(|e| Error::io("reading the payload to sign", e))?;
            sink.write(&buf[..want]).map_err(sign_err)?;
            done += want as u64;
            progress(done);
        }
        sink.finish_signing().map_err(sign_err)?;
        cms.to_der().map_err(sign_err)
    }

    /// Signs `content` and embeds it in the signature.
    pub fn sign_inline(&self, content: &[u8]) -> Result<Vec<u8>, Error> {
        let certs = self.cert_stack()?;
        CmsContentInfo::sign(
            Some(&self.cert),
            Some(self.pkey()),
            Some(&certs),
            Some(content),
            CMSOptions::BINARY | CMSOptions::NOSMIMECAP,
        )
        .and_then(|c| c.to_der())
        .map_err(|e| Error::Signature(format!("signing failed: {e}")))
    }
}

/// The digest RAUC signs with.
pub fn digest() -> MessageDigest {
    MessageDigest::sha256()
}

/// Checks that a certificate is valid for signing bundles under `purpose`,
/// without a signature (used to fail early on create).
pub fn check_signer_purpose(signer: &Signer, opts: &VerifyOptions) -> Result<(), Error> {
    let store = opts.store(None)?;
    let untrusted = signer.cert_stack()?;
    let mut ctx = X509StoreContext::new().map_err(verify_error)?;
    let ok = ctx
        .init(&store, signer.certificate(), &untrusted, |c| {
            let ok = c.verify_cert()?;
            Ok((ok, c.error().error_string().to_string()))
        })
        .map_err(verify_error)?;
    if ok.0 {
        Ok(())
    } else {
        Err(Error::Signature(format!("Verify error: {}", ok.1)))
    }
}
