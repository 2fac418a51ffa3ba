//! Secrets that must never reach a log line.

use std::fmt;

/// A credential (target token, gateway token, password). `Debug` and `Display` print
/// `[redacted]`, so a secret inside a struct that is logged with `{:?}` stays secret; the value
/// is reachable only through [`Secret::expose`], which makes every use greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Generates a random token of 32 alphanumeric characters (the format hawkBit uses for
    /// target tokens), from the operating system's CSPRNG via OpenSSL.
    pub fn generate_token() -> Self {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut out = String::with_capacity(32);
        let mut buf = [0u8; 64];
        while out.len() < 32 {
            // A failing CSPRNG leaves no safe way to issue credentials.
            openssl::rand::rand_bytes(&mut buf).expect("OpenSSL random generator failed");
            // Rejection sampling: 248 = 4 * 62, so accepted bytes map uniformly.
            for &b in buf.iter().filter(|&&b| b < 248) {
                if out.len() == 32 {
                    break;
                }
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
        Secret(out)
    }

    /// Compares in constant time (for the length of the shorter input), so response timing does
    /// not reveal how many leading characters of a guessed token were right.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        a.len() == b.len() && openssl::memcmp::eq(a, b)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn generated_tokens_are_32_alphanumerics_and_differ() {
        let a = Secret::generate_token();
        let b = Secret::generate_token();
        assert_eq!(a.expose().len(), 32);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn matches_compares_whole_value() {
        let s = Secret::new("abc");
        assert!(s.matches("abc"));
        assert!(!s.matches("abd"));
        assert!(!s.matches("ab"));
        assert!(!s.matches("abcd"));
    }
}
