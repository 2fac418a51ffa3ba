//! The few libcrypto calls the `openssl` crate does not wrap.
//!
//! They are needed for three things the safe API cannot do: stream a
//! detached payload through CMS digesting without holding it in memory
//! (`CMS_dataInit` / `CMS_dataFinal` / `CMS_SignerInfo_verify_content`),
//! register RAUC's `codesign` certificate purpose (`X509_PURPOSE_add`), and
//! read the signers and the signing time out of a verified CMS structure.
//! Every function here is a thin, checked wrapper; nothing else in the crate
//! uses `unsafe`.
#![allow(unsafe_code)]

use foreign_types_shared::{ForeignType, ForeignTypeRef};
use openssl::asn1::Asn1TimeRef;
use openssl::cms::CmsContentInfoRef;
use openssl::error::ErrorStack;
use openssl::stack::Stack;
use openssl::x509::{X509Ref, X509};
use openssl_sys as sys;
use std::ffi::{c_int, c_void, CString};
use std::os::raw::c_char;

#[allow(non_camel_case_types)]
type CMS_SignerInfo = c_void;
#[allow(non_camel_case_types)]
type X509_ATTRIBUTE = c_void;
#[allow(non_camel_case_types)]
type X509_PURPOSE = c_void;

extern "C" {
    fn CMS_dataInit(cms: *mut sys::CMS_ContentInfo, icont: *mut sys::BIO) -> *mut sys::BIO;
    fn CMS_dataFinal(cms: *mut sys::CMS_ContentInfo, bio: *mut sys::BIO) -> c_int;
    fn CMS_get0_SignerInfos(cms: *mut sys::CMS_ContentInfo) -> *mut sys::OPENSSL_STACK;
    fn CMS_SignerInfo_verify_content(si: *mut CMS_SignerInfo, chain: *mut sys::BIO) -> c_int;
    fn CMS_get0_signers(cms: *mut sys::CMS_ContentInfo) -> *mut sys::OPENSSL_STACK;
    fn CMS_get1_certs(cms: *mut sys::CMS_ContentInfo) -> *mut sys::OPENSSL_STACK;
    fn CMS_is_detached(cms: *mut sys::CMS_ContentInfo) -> c_int;
    fn CMS_signed_get_attr_by_NID(si: *const CMS_SignerInfo, nid: c_int, lastpos: c_int) -> c_int;
    fn CMS_signed_get_attr(si: *const CMS_SignerInfo, loc: c_int) -> *mut X509_ATTRIBUTE;
    fn X509_ATTRIBUTE_get0_data(
        attr: *mut X509_ATTRIBUTE,
        idx: c_int,
        atrtype: c_int,
        data: *mut c_void,
    ) -> *mut c_void;
    fn X509_PURPOSE_add(
        id: c_int,
        trust: c_int,
        flags: c_int,
        ck: Option<unsafe extern "C" fn(*const X509_PURPOSE, *const sys::X509, c_int) -> c_int>,
        name: *const c_char,
        sname: *const c_char,
        arg: *mut c_void,
    ) -> c_int;
    fn X509_check_ca(x: *mut sys::X509) -> c_int;
}

const NID_PKCS9_SIGNING_TIME: c_int = 52;
const V_ASN1_UTCTIME: c_int = 23;
const V_ASN1_GENERALIZEDTIME: c_int = 24;
const BIO_CTRL_FLUSH: c_int = 11;
const X509_TRUST_OBJECT_SIGN: c_int = 5;
const EXFLAG_KUSAGE: u32 = 0x2;
const EXFLAG_XKUSAGE: u32 = 0x4;
const KU_DIGITAL_SIGNATURE: u32 = 0x80;
const XKU_CODE_SIGN: u32 = 0x8;

/// An OpenSSL BIO chain owned by Rust.
struct Bio(*mut sys::BIO);

impl Drop for Bio {
    fn drop(&mut self) {
        // SAFETY: the pointer came from CMS_dataInit and is freed once.
        unsafe { sys::BIO_free_all(self.0) }
    }
}

impl Bio {
    fn write_all(&mut self, mut data: &[u8]) -> Result<(), ErrorStack> {
        while !data.is_empty() {
            let n = data.len().min(i32::MAX as usize) as c_int;
            // SAFETY: `data` is valid for `n` bytes; the BIO is live.
            let w = unsafe { sys::BIO_write(self.0, data.as_ptr().cast(), n) };
            if w <= 0 {
                return Err(ErrorStack::get());
            }
            data = &data[w as usize..];
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ErrorStack> {
        // SAFETY: live BIO; FLUSH takes no pointer argument.
        if unsafe { sys::BIO_ctrl(self.0, BIO_CTRL_FLUSH, 0, std::ptr::null_mut()) } <= 0 {
            return Err(ErrorStack::get());
        }
        Ok(())
    }
}

/// A digesting sink attached to a CMS structure: bytes written to it are
/// hashed with every digest algorithm the SignedData uses.
pub(crate) struct DigestSink<'a> {
    cms: &'a CmsContentInfoRef,
    bio: Bio,
}

impl<'a> DigestSink<'a> {
    /// Opens the content stream of a detached SignedData.
    pub(crate) fn new(cms: &'a CmsContentInfoRef) -> Result<Self, ErrorStack> {
        // SAFETY: a NULL content BIO makes OpenSSL use a null sink for
        // detached content; the returned chain is owned by us.
        let bio = unsafe { CMS_dataInit(cms.as_ptr(), std::ptr::null_mut()) };
        if bio.is_null() {
            return Err(ErrorStack::get());
        }
        Ok(DigestSink { cms, bio: Bio(bio) })
    }

    /// Feeds content bytes.
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<(), ErrorStack> {
        self.bio.write_all(data)
    }

    /// Completes signing: computes the signatures of a SignedData made with
    /// `CMS_PARTIAL`.
    pub(crate) fn finish_signing(mut self) -> Result<(), ErrorStack> {
        self.bio.flush()?;
        // SAFETY: cms and its data BIO chain are live and belong together.
        if unsafe { CMS_dataFinal(self.cms.as_ptr(), self.bio.0) } != 1 {
            return Err(ErrorStack::get());
        }
        Ok(())
    }

    /// Completes verification: every signer's digest over the streamed
    /// content must match what it signed.
    pub(crate) fn finish_verifying(self) -> Result<(), ErrorStack> {
        for si in signer_infos(self.cms) {
            // SAFETY: si belongs to cms; the BIO chain was made by CMS_dataInit.
            if unsafe { CMS_SignerInfo_verify_content(si, self.bio.0) } != 1 {
                return Err(ErrorStack::get());
            }
        }
        Ok(())
    }
}

fn signer_infos(cms: &CmsContentInfoRef) -> Vec<*mut CMS_SignerInfo> {
    // SAFETY: the stack is owned by cms and only read here.
    unsafe {
        let sk = CMS_get0_SignerInfos(cms.as_ptr());
        if sk.is_null() {
            return Vec::new();
        }
        (0..sys::OPENSSL_sk_num(sk))
            .map(|i| sys::OPENSSL_sk_value(sk, i))
            .collect()
    }
}

/// True for a detached SignedData (plain bundles).
pub(crate) fn is_detached(cms: &CmsContentInfoRef) -> bool {
    // SAFETY: read-only query on a live structure.
    unsafe { CMS_is_detached(cms.as_ptr()) == 1 }
}

/// Signer certificates, as set by a successful `CMS_verify`.
pub(crate) fn signers(cms: &CmsContentInfoRef) -> Vec<X509> {
    // SAFETY: CMS_get0_signers returns a new stack of borrowed certs; each
    // cert is up-referenced into an owned X509 before the stack is freed.
    unsafe {
        let sk = CMS_get0_signers(cms.as_ptr());
        if sk.is_null() {
            let _ = ErrorStack::get();
            return Vec::new();
        }
        let out = (0..sys::OPENSSL_sk_num(sk))
            .filter_map(|i| {
                let c = sys::OPENSSL_sk_value(sk, i) as *mut sys::X509;
                (!c.is_null()).then(|| X509Ref::from_ptr(c).to_owned())
            })
            .collect();
        sys::OPENSSL_sk_free(sk);
        out
    }
}

/// Every certificate embedded in the CMS structure.
pub(crate) fn embedded_certs(cms: &CmsContentInfoRef) -> Stack<X509> {
    // SAFETY: CMS_get1_certs returns an owned stack of owned certs (or NULL
    // when there are none), which Stack<X509> frees correctly.
    unsafe {
        let sk = CMS_get1_certs(cms.as_ptr());
        if sk.is_null() {
            let _ = ErrorStack::get();
            Stack::new().expect("allocating an empty stack")
        } else {
            Stack::from_ptr(sk.cast())
        }
    }
}

/// The signingTime attribute of the first signer, in seconds since the epoch.
pub(crate) fn signing_time(cms: &CmsContentInfoRef) -> Option<i64> {
    let si = *signer_infos(cms).first()?;
    // SAFETY: the attribute and its value are owned by cms and only read.
    unsafe {
        let loc = CMS_signed_get_attr_by_NID(si, NID_PKCS9_SIGNING_TIME, -1);
        if loc < 0 {
            return None;
        }
        let attr = CMS_signed_get_attr(si, loc);
        if attr.is_null() {
            return None;
        }
        let mut t = X509_ATTRIBUTE_get0_data(attr, 0, V_ASN1_UTCTIME, std::ptr::null_mut());
        if t.is_null() {
            t = X509_ATTRIBUTE_get0_data(attr, 0, V_ASN1_GENERALIZEDTIME, std::ptr::null_mut());
        }
        let _ = ErrorStack::get();
        if t.is_null() {
            return None;
        }
        asn1_time_to_unix(Asn1TimeRef::from_ptr(t.cast()))
    }
}

/// Seconds since the epoch of an ASN.1 time.
pub(crate) fn asn1_time_to_unix(t: &Asn1TimeRef) -> Option<i64> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let d = epoch.diff(t).ok()?;
    Some(i64::from(d.days) * 86_400 + i64::from(d.secs))
}

/// RAUC's `codesign` purpose: the signer needs extended key usage
/// codeSigning (and digitalSignature if it has a key usage at all); a CA
/// that restricts its extended key usage must allow codeSigning.
unsafe extern "C" fn check_codesign(
    _p: *const X509_PURPOSE,
    x: *const sys::X509,
    ca: c_int,
) -> c_int {
    let x = x as *mut sys::X509;
    // SAFETY: OpenSSL passes a valid certificate; these calls only read
    // cached extension data.
    let flags = sys::X509_get_extension_flags(x);
    if ca != 0 {
        if flags & EXFLAG_XKUSAGE != 0 && sys::X509_get_extended_key_usage(x) & XKU_CODE_SIGN == 0 {
            return 0;
        }
        return X509_check_ca(x);
    }
    if flags & EXFLAG_XKUSAGE == 0 || sys::X509_get_extended_key_usage(x) & XKU_CODE_SIGN == 0 {
        return 0;
    }
    if flags & EXFLAG_KUSAGE != 0 && sys::X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE == 0 {
        return 0;
    }
    1
}

/// The purpose id for `codesign`, registering it with OpenSSL on first use
/// (OpenSSL 3.2 and later have their own, which is used instead).
pub(crate) fn codesign_purpose() -> Result<c_int, ErrorStack> {
    static ID: std::sync::OnceLock<Result<c_int, String>> = std::sync::OnceLock::new();
    let r = ID.get_or_init(|| {
        let sname = CString::new("codesign").expect("static string");
        // SAFETY: sname is a valid C string for the duration of the calls;
        // X509_PURPOSE_add copies name and sname.
        unsafe {
            let idx = sys::X509_PURPOSE_get_by_sname(sname.as_ptr());
            if idx >= 0 {
                return Ok(sys::X509_PURPOSE_get_id(sys::X509_PURPOSE_get0(idx)));
            }
            // Any id above the built-in ones; RAUC uses the same.
            let id: c_int = 10;
            let name = CString::new("Code signing").expect("static string");
            let ok = X509_PURPOSE_add(
                id,
                X509_TRUST_OBJECT_SIGN,
                0,
                Some(check_codesign),
                name.as_ptr(),
                sname.as_ptr(),
                std::ptr::null_mut(),
            );
            if ok != 1 {
                return Err(ErrorStack::get().to_string());
            }
            Ok(id)
        }
    });
    r.clone().map_err(|_| ErrorStack::get())
}
