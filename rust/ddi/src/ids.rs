use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// The server's id of an action (one assignment of a distribution set to one target).
///
/// On the wire DDI writes it as a JSON *string* (`"id": "8"`), while it appears as a plain number
/// in URL paths. Deserialization accepts both a string of digits and a JSON integer, because some
/// clients echo it back as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActionId(pub u64);

impl ActionId {
    /// The numeric value.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for ActionId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // `u64::from_str` accepts a leading '+', which is not a valid id on the wire.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::InvalidActionId(s.to_owned()));
        }
        s.parse::<u64>()
            .map(ActionId)
            .map_err(|_| Error::InvalidActionId(s.to_owned()))
    }
}

impl From<u64> for ActionId {
    fn from(v: u64) -> Self {
        ActionId(v)
    }
}

impl Serialize for ActionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ActionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = ActionId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an action id as a string of digits or a non-negative integer")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ActionId, E> {
                Ok(ActionId(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ActionId, E> {
                u64::try_from(v)
                    .map(ActionId)
                    .map_err(|_| E::custom(Error::InvalidActionId(v.to_string())))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ActionId, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_digits_only() {
        assert_eq!("42".parse::<ActionId>().unwrap(), ActionId(42));
        assert!("+42".parse::<ActionId>().is_err());
        assert!("".parse::<ActionId>().is_err());
        assert!("-1".parse::<ActionId>().is_err());
        assert!("99999999999999999999999".parse::<ActionId>().is_err());
    }

    #[test]
    fn json_accepts_string_and_number_and_writes_string() {
        let a: ActionId = serde_json::from_str("\"7\"").unwrap();
        let b: ActionId = serde_json::from_str("7").unwrap();
        assert_eq!(a, b);
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"7\"");
        assert!(serde_json::from_str::<ActionId>("-7").is_err());
        assert!(serde_json::from_str::<ActionId>("\"x\"").is_err());
    }
}
