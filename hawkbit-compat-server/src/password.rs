//! Operator password hashing: Argon2id with the crate's default (OWASP-recommended) cost,
//! stored as PHC strings so the parameters can be raised later without breaking old hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Hashing failed (only on invalid parameters or an unusable random source).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// A hash of a password that matches nothing; verified against when the user does not exist,
/// so a login attempt takes as long for an unknown user as for a wrong password.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$yN3L0Rf2y1E3cDT9jWjvqV1FSdnNNsQmV9oLx6mn7Fo";

/// Hashes a password with a fresh random salt.
///
/// # Errors
///
/// [`HashError`].
pub fn hash(password: &str) -> Result<String, HashError> {
    // Salt from OpenSSL's CSPRNG, which the server already relies on for tokens.
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes).map_err(|e| HashError(e.to_string()))?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| HashError(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches `stored` (a PHC string). A malformed stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spends the same effort as [`verify`] and returns `false`.
pub fn verify_dummy(password: &str) -> bool {
    let _ = verify(password, DUMMY_HASH);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("correct hors", &h));
        assert_ne!(hash("correct horse").unwrap(), h, "salted");
        assert!(!verify("x", "not a hash"));
        assert!(!verify_dummy("anything"));
        assert!(
            PasswordHash::new(DUMMY_HASH).is_ok(),
            "dummy hash must parse to cost the same"
        );
    }
}
