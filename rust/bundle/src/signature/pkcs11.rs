//! Keys and certificates on a PKCS#11 token (an HSM, a smart card, SoftHSM),
//! addressed by `pkcs11:` URIs, through OpenSSL's `pkcs11` engine (Debian
//! package `libengine-pkcs11-openssl`). The module and PIN come from the same
//! environment variables RAUC reads, so CI jobs move over unchanged:
//! `RAUC_PKCS11_MODULE` (e.g. `/usr/lib/softhsm/libsofthsm2.so`) and
//! `RAUC_PKCS11_PIN`. The PIN is passed to the engine and never logged.
#![allow(unsafe_code)]

use crate::error::Error;
use foreign_types_shared::ForeignType;
use openssl::error::ErrorStack;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use openssl_sys as sys;
use std::ffi::{c_char, c_int, c_long, c_void, CString};
use std::sync::{Mutex, OnceLock};

#[allow(non_camel_case_types)]
type RawEngine = c_void;

extern "C" {
    fn ENGINE_by_id(id: *const c_char) -> *mut RawEngine;
    fn ENGINE_init(e: *mut RawEngine) -> c_int;
    fn ENGINE_ctrl_cmd_string(
        e: *mut RawEngine,
        cmd: *const c_char,
        arg: *const c_char,
        optional: c_int,
    ) -> c_int;
    fn ENGINE_ctrl_cmd(
        e: *mut RawEngine,
        cmd: *const c_char,
        i: c_long,
        p: *mut c_void,
        f: Option<unsafe extern "C" fn()>,
        optional: c_int,
    ) -> c_int;
    fn ENGINE_load_private_key(
        e: *mut RawEngine,
        key_id: *const c_char,
        ui: *mut c_void,
        cb: *mut c_void,
    ) -> *mut sys::EVP_PKEY;
}

struct Engine(*mut RawEngine);
// SAFETY: the engine handle is only used under the mutex below.
unsafe impl Send for Engine {}

fn cstr(s: &str, what: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::Key(format!("{what} contains a NUL byte")))
}

fn engine_err(what: &str) -> Error {
    Error::Key(format!("{what}: {}", ErrorStack::get()))
}

/// The initialised engine, shared by every load in this process.
fn engine() -> Result<&'static Mutex<Engine>, Error> {
    static ENGINE: OnceLock<Result<Mutex<Engine>, String>> = OnceLock::new();
    let r = ENGINE.get_or_init(|| {
        let init = || -> Result<Engine, Error> {
            let id = cstr("pkcs11", "engine id")?;
            // SAFETY: plain C calls with valid NUL-terminated strings; the
            // engine reference is kept for the life of the process.
            unsafe {
                let e = ENGINE_by_id(id.as_ptr());
                if e.is_null() {
                    return Err(engine_err(
                        "OpenSSL's pkcs11 engine is not available (install libengine-pkcs11-openssl)",
                    ));
                }
                if let Ok(module) = std::env::var("RAUC_PKCS11_MODULE") {
                    let cmd = cstr("MODULE_PATH", "command")?;
                    let arg = cstr(&module, "RAUC_PKCS11_MODULE")?;
                    if ENGINE_ctrl_cmd_string(e, cmd.as_ptr(), arg.as_ptr(), 0) != 1 {
                        return Err(engine_err("setting the PKCS#11 module from RAUC_PKCS11_MODULE"));
                    }
                }
                if ENGINE_init(e) != 1 {
                    return Err(engine_err("initialising the pkcs11 engine"));
                }
                if let Ok(pin) = std::env::var("RAUC_PKCS11_PIN") {
                    let cmd = cstr("PIN", "command")?;
                    let arg = cstr(&pin, "RAUC_PKCS11_PIN")?;
                    if ENGINE_ctrl_cmd_string(e, cmd.as_ptr(), arg.as_ptr(), 0) != 1 {
                        return Err(engine_err("passing RAUC_PKCS11_PIN to the engine"));
                    }
                }
                Ok(Engine(e))
            }
        };
        init().map(Mutex::new).map_err(|e| e.to_string())
    });
    r.as_ref().map_err(|msg| Error::Key(msg.clone()))
}

/// Loads the private key named by a `pkcs11:` URI.
pub(super) fn load_private_key(uri: &str) -> Result<PKey<Private>, Error> {
    let guard = engine()?
        .lock()
        .map_err(|_| Error::Key("pkcs11 engine lock poisoned".into()))?;
    let id = cstr(uri, "key URI")?;
    // SAFETY: the engine is initialised; the returned key is owned by us.
    unsafe {
        let k = ENGINE_load_private_key(
            guard.0,
            id.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        if k.is_null() {
            return Err(engine_err(&format!("loading the private key {uri}")));
        }
        Ok(PKey::from_ptr(k))
    }
}

#[repr(C)]
struct LoadCertParams {
    cert_id: *const c_char,
    cert: *mut sys::X509,
}

/// Loads the certificate named by a `pkcs11:` URI.
pub(super) fn load_certificate(uri: &str) -> Result<X509, Error> {
    let guard = engine()?
        .lock()
        .map_err(|_| Error::Key("pkcs11 engine lock poisoned".into()))?;
    let id = cstr(uri, "certificate URI")?;
    let cmd = cstr("LOAD_CERT_CTRL", "command")?;
    let mut params = LoadCertParams {
        cert_id: id.as_ptr(),
        cert: std::ptr::null_mut(),
    };
    // SAFETY: LOAD_CERT_CTRL fills `cert` with an owned certificate.
    unsafe {
        let ok = ENGINE_ctrl_cmd(
            guard.0,
            cmd.as_ptr(),
            0,
            (&mut params as *mut LoadCertParams).cast(),
            None,
            0,
        );
        if ok != 1 || params.cert.is_null() {
            return Err(engine_err(&format!("loading the certificate {uri}")));
        }
        Ok(X509::from_ptr(params.cert))
    }
}
