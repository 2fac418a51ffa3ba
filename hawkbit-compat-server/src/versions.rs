//! Version ordering for the downgrade guard: a release whose RAUC bundle is older than what a
//! device reports in its `installed_version` attribute is not assigned unless the operator
//! marks the assignment as a downgrade.
//!
//! Versions are compared as semantic versions. Bundle versions are often shorter (`2.1`) or
//! carry a `v` prefix, so missing minor/patch parts count as 0 and one leading `v` is ignored.
//! When either side is not a version at all (a date stamp with letters, a git hash), no order
//! is claimed and nothing is blocked.

use std::cmp::Ordering;

/// Parses leniently: `v1.2` -> 1.2.0, `3` -> 3.0.0, `1.2.3-rc1+b5` as semver.
pub fn parse_lenient(v: &str) -> Option<semver::Version> {
    let v = v.trim();
    let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
    if let Ok(parsed) = semver::Version::parse(v) {
        return Some(parsed);
    }
    // Pad the numeric core to three parts, keeping any pre-release/build suffix.
    let split = v.find(['-', '+']).unwrap_or(v.len());
    let (core, rest) = v.split_at(split);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut padded = parts.join(".");
    for _ in parts.len()..3 {
        padded.push_str(".0");
    }
    semver::Version::parse(&format!("{padded}{rest}")).ok()
}

/// How `candidate` compares to `installed`, if both are versions.
pub fn compare(candidate: &str, installed: &str) -> Option<Ordering> {
    Some(parse_lenient(candidate)?.cmp(&parse_lenient(installed)?))
}

/// Whether installing `candidate` over `installed` is a downgrade (strictly older).
pub fn is_downgrade(candidate: &str, installed: &str) -> bool {
    compare(candidate, installed) == Some(Ordering::Less)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_parsing() {
        assert_eq!(parse_lenient("v1.2").unwrap().to_string(), "1.2.0");
        assert_eq!(parse_lenient("3").unwrap().to_string(), "3.0.0");
        assert_eq!(parse_lenient("1.2-rc1").unwrap().to_string(), "1.2.0-rc1");
        assert_eq!(parse_lenient("1.2.3+b7").unwrap().to_string(), "1.2.3+b7");
        for bad in ["", "abc", "1..2", "1.2.3.4", "1.2.x", "deadbeef"] {
            assert!(parse_lenient(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn ordering() {
        assert!(is_downgrade("1.9.0", "1.10.0"));
        assert!(is_downgrade("2.0.0-rc1", "2.0.0"));
        assert!(is_downgrade("1.2", "v1.2.1"));
        assert!(!is_downgrade("1.10.0", "1.9.0"));
        assert!(!is_downgrade("1.2.0", "1.2"));
        // Unknown order: never blocks.
        assert!(!is_downgrade("nightly", "1.0"));
        assert!(!is_downgrade("1.0", "abc"));
    }
}
