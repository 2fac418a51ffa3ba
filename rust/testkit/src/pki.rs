//! A throw-away PKI for the tests, made with OpenSSL in process so that
//! validity periods and key usages can be anything a test needs (expired,
//! not yet valid, wrong purpose), which the `openssl` command line of
//! Debian 12 cannot set directly.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509Name, X509};
use std::path::{Path, PathBuf};

/// A certificate and its key, written as PEM files.
#[derive(Clone)]
pub struct Identity {
    pub cert: X509,
    pub key: PKey<Private>,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

impl Identity {
    pub fn cert(&self) -> &str {
        self.cert_path.to_str().unwrap()
    }
    pub fn key(&self) -> &str {
        self.key_path.to_str().unwrap()
    }
}

pub enum Usage {
    Ca { pathlen: Option<u32> },
    CodeSigning,
    NoEku,
    ServerAuth,
}

pub struct Spec<'a> {
    pub cn: &'a str,
    pub usage: Usage,
    pub ec: bool,
    /// Validity relative to now, in days.
    pub from_days: i64,
    pub to_days: i64,
}

fn rsa() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
}

fn ec() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn issue(dir: &Path, file: &str, spec: Spec<'_>, issuer: Option<&Identity>) -> Identity {
    let key = if spec.ec { ec() } else { rsa() };
    let mut name = X509Name::builder().unwrap();
    name.append_entry_by_text("O", "Test Org").unwrap();
    name.append_entry_by_text("CN", spec.cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.map(|i| i.cert.subject_name()).unwrap_or(&name))
        .unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(now() + spec.from_days * 86_400).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(now() + spec.to_days * 86_400).unwrap())
        .unwrap();
    match spec.usage {
        Usage::Ca { pathlen } => {
            let mut bc = BasicConstraints::new();
            bc.critical().ca();
            if let Some(p) = pathlen {
                bc.pathlen(p);
            }
            b.append_extension(bc.build().unwrap()).unwrap();
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()
                    .unwrap(),
            )
            .unwrap();
        }
        Usage::CodeSigning | Usage::NoEku | Usage::ServerAuth => {
            b.append_extension(BasicConstraints::new().critical().build().unwrap())
                .unwrap();
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .build()
                    .unwrap(),
            )
            .unwrap();
            match spec.usage {
                Usage::CodeSigning => b
                    .append_extension(
                        ExtendedKeyUsage::new()
                            .critical()
                            .code_signing()
                            .build()
                            .unwrap(),
                    )
                    .unwrap(),
                Usage::ServerAuth => b
                    .append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
                    .unwrap(),
                _ => {}
            }
        }
    }
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(issuer.map(|i| i.cert.as_ref()), None))
        .unwrap();
    b.append_extension(ski).unwrap();
    if let Some(i) = issuer {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(Some(&i.cert), None))
            .unwrap();
        b.append_extension(aki).unwrap();
    }
    let signing_key = issuer.map(|i| &i.key).unwrap_or(&key);
    b.sign(signing_key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    let cert_path = dir.join(format!("{file}.cert.pem"));
    let key_path = dir.join(format!("{file}.key.pem"));
    std::fs::write(&cert_path, cert.to_pem().unwrap()).unwrap();
    std::fs::write(&key_path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    Identity {
        cert,
        key,
        cert_path,
        key_path,
    }
}

/// root → intermediate → signers of every kind the tests need.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub root: Identity,
    pub inter: Identity,
    /// RSA, EKU codeSigning, issued by the intermediate.
    pub signer: Identity,
    /// EC P-256, EKU codeSigning, issued by the intermediate.
    pub ec_signer: Identity,
    /// RSA without EKU, issued by the root (passes RAUC's default purpose).
    pub noeku: Identity,
    /// EKU serverAuth: wrong purpose for code signing.
    pub server: Identity,
    pub expired: Identity,
    pub future: Identity,
    /// An unrelated root.
    pub other_root: Identity,
    /// A second signer for re-signing (release key).
    pub release: Identity,
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let leaf = |cn, usage, ec, from_days, to_days| Spec {
            cn,
            usage,
            ec,
            from_days,
            to_days,
        };
        let root = issue(
            d,
            "root",
            leaf("Test Root CA", Usage::Ca { pathlen: None }, false, -1, 3650),
            None,
        );
        let inter = issue(
            d,
            "inter",
            leaf(
                "Test Intermediate CA",
                Usage::Ca { pathlen: Some(0) },
                false,
                -1,
                3650,
            ),
            Some(&root),
        );
        let signer = issue(
            d,
            "signer",
            leaf(
                "Test Development Signer",
                Usage::CodeSigning,
                false,
                -1,
                365,
            ),
            Some(&inter),
        );
        let ec_signer = issue(
            d,
            "ec",
            leaf("Test EC Signer", Usage::CodeSigning, true, -1, 365),
            Some(&inter),
        );
        let noeku = issue(
            d,
            "noeku",
            leaf("Test NoEKU Signer", Usage::NoEku, false, -1, 365),
            Some(&root),
        );
        let server = issue(
            d,
            "server",
            leaf("Test Server", Usage::ServerAuth, false, -1, 365),
            Some(&inter),
        );
        let expired = issue(
            d,
            "expired",
            leaf("Test Expired Signer", Usage::CodeSigning, false, -30, -1),
            Some(&inter),
        );
        let future = issue(
            d,
            "future",
            leaf("Test Future Signer", Usage::CodeSigning, false, 10, 365),
            Some(&inter),
        );
        let other_root = issue(
            d,
            "other-root",
            leaf(
                "Other Root CA",
                Usage::Ca { pathlen: None },
                false,
                -1,
                3650,
            ),
            None,
        );
        let release = issue(
            d,
            "release",
            leaf("Test Release Signer", Usage::CodeSigning, false, -1, 365),
            Some(&inter),
        );
        Pki {
            dir,
            root,
            inter,
            signer,
            ec_signer,
            noeku,
            server,
            expired,
            future,
            other_root,
            release,
        }
    }

    /// A keyring file holding the root only.
    pub fn keyring(&self) -> &Path {
        &self.root.cert_path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}
