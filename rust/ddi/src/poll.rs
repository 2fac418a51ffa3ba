//! The base poll: `GET /{tenant}/controller/v1/{controllerId}`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// Answer to the base poll: how long to sleep and what the server wants next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerBase {
    /// Server-side settings for the device.
    pub config: ControllerConfig,
    /// What the device should fetch next. Empty when there is nothing to do; hawkBit omits the
    /// key in that case while other servers send `{}`, so both are accepted.
    #[serde(rename = "_links", default)]
    pub links: Links,
}

/// The `config` object of the base poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerConfig {
    /// Polling settings.
    pub polling: Polling,
}

/// The `config.polling` object of the base poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Polling {
    /// Time until the next poll.
    pub sleep: PollingSleep,
}

/// A HAL link: `{"href": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Absolute URL (servers may point downloads at a CDN, so clients follow it as given).
    pub href: String,
}

impl Link {
    /// A link to `href`.
    pub fn new(href: impl Into<String>) -> Self {
        Link { href: href.into() }
    }
}

/// The `_links` of the base poll.
///
/// hawkBit emits at most one of `deploymentBase`, `cancelAction` and `confirmationBase` (for the
/// single active action with the highest weight), plus `installedBase` when a finished action
/// exists and `configData` when the server wants the device's attributes. Unknown link relations
/// are ignored, which lets a server add extensions without breaking older agents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Links {
    /// An update to download and install: `.../deploymentBase/{actionId}?c={int}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_base: Option<Link>,
    /// The running action is being canceled: `.../cancelAction/{actionId}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_action: Option<Link>,
    /// An action waits for the user's consent: `.../confirmationBase/{actionId}?c={int}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_base: Option<Link>,
    /// The last finished action: `.../installedBase/{actionId}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_base: Option<Link>,
    /// The server asks for the device's attributes: `PUT .../configData`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_data: Option<Link>,
    /// Extension: the device's configuration changed since it last confirmed it:
    /// `GET .../deviceConfig` (see [`crate::DeviceConfig`]). Absent on hawkBit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_config: Option<Link>,
}

/// The polling interval the server asks for, as DDI writes it: `"HH:MM:SS"`.
///
/// Parsing is strict on purpose. Real clients read the value with `strptime("%T")`, so hours must
/// be `00`–`23`; and a value that cannot be read must surface as an error rather than become a
/// zero interval, which would make every device of a fleet poll in a tight loop. A zero interval
/// is rejected for the same reason. The value is always positive and below 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PollingSleep(Duration);

impl PollingSleep {
    /// The longest interval DDI can express: `23:59:59`.
    pub const MAX: PollingSleep = PollingSleep(Duration::from_secs(24 * 3600 - 1));

    /// An interval of `secs` seconds.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroPollingSleep`] for 0 and [`Error::PollingSleepOutOfRange`] for a day or more.
    pub fn from_secs(secs: u64) -> Result<Self, Error> {
        if secs == 0 {
            return Err(Error::ZeroPollingSleep);
        }
        if secs >= 24 * 3600 {
            return Err(Error::PollingSleepOutOfRange(format!("{secs}s")));
        }
        Ok(PollingSleep(Duration::from_secs(secs)))
    }

    /// Parses `"HH:MM:SS"` (exactly two digits per field).
    ///
    /// # Errors
    ///
    /// [`Error::MalformedPollingSleep`], [`Error::PollingSleepOutOfRange`] or
    /// [`Error::ZeroPollingSleep`].
    pub fn parse(s: &str) -> Result<Self, Error> {
        let malformed = || Error::MalformedPollingSleep(s.to_owned());
        let bytes = s.as_bytes();
        if bytes.len() != 8 || bytes[2] != b':' || bytes[5] != b':' {
            return Err(malformed());
        }
        let field = |i: usize| -> Result<u64, Error> {
            let (a, b) = (bytes[i], bytes[i + 1]);
            if a.is_ascii_digit() && b.is_ascii_digit() {
                Ok(u64::from(a - b'0') * 10 + u64::from(b - b'0'))
            } else {
                Err(malformed())
            }
        };
        let (h, m, sec) = (field(0)?, field(3)?, field(6)?);
        if h > 23 || m > 59 || sec > 59 {
            return Err(Error::PollingSleepOutOfRange(s.to_owned()));
        }
        Self::from_secs(h * 3600 + m * 60 + sec)
    }

    /// The interval as a [`Duration`].
    pub fn as_duration(self) -> Duration {
        self.0
    }
}

impl TryFrom<Duration> for PollingSleep {
    type Error = Error;

    /// Whole seconds only; sub-second parts are dropped because DDI cannot express them.
    fn try_from(d: Duration) -> Result<Self, Error> {
        Self::from_secs(d.as_secs())
    }
}

impl From<PollingSleep> for Duration {
    fn from(p: PollingSleep) -> Duration {
        p.0
    }
}

impl FromStr for PollingSleep {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl fmt::Display for PollingSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_secs();
        write!(f, "{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    }
}

impl Serialize for PollingSleep {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PollingSleep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        PollingSleep::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_valid_values() {
        for s in ["00:00:01", "00:05:00", "12:00:00", "23:59:59", "01:02:03"] {
            let p = PollingSleep::parse(s).unwrap();
            assert_eq!(p.to_string(), s);
        }
        assert_eq!(
            PollingSleep::parse("01:02:03").unwrap().as_duration(),
            Duration::from_secs(3723)
        );
        assert_eq!(PollingSleep::MAX.to_string(), "23:59:59");
    }

    #[test]
    fn rejects_a_day_or_more() {
        for s in ["24:00:00", "99:00:00", "00:60:00", "00:00:60"] {
            assert!(
                matches!(
                    PollingSleep::parse(s),
                    Err(Error::PollingSleepOutOfRange(_))
                ),
                "{s}"
            );
        }
        assert!(PollingSleep::from_secs(24 * 3600).is_err());
    }

    #[test]
    fn rejects_zero_instead_of_polling_in_a_loop() {
        assert_eq!(
            PollingSleep::parse("00:00:00"),
            Err(Error::ZeroPollingSleep)
        );
        assert_eq!(PollingSleep::from_secs(0), Err(Error::ZeroPollingSleep));
        assert!(PollingSleep::try_from(Duration::from_millis(999)).is_err());
    }

    #[test]
    fn rejects_malformed_values() {
        for s in [
            "",
            "5",
            "5:00",
            "0:05:00",
            "00:5:00",
            "00:05:0",
            "00-05-00",
            "00:05:00 ",
            " 00:05:00",
            "aa:bb:cc",
            "00:05:00~10%",
            "+0:05:00",
            "00:05",
            "000:05:00",
            "00:05:00.5",
            "１２:00:00",
        ] {
            assert!(
                matches!(PollingSleep::parse(s), Err(Error::MalformedPollingSleep(_))),
                "{s:?} should be malformed, got {:?}",
                PollingSleep::parse(s)
            );
        }
    }

    #[test]
    fn serde_uses_the_string_form_and_fails_on_bad_values() {
        let p: PollingSleep = serde_json::from_str("\"00:01:30\"").unwrap();
        assert_eq!(p.as_duration(), Duration::from_secs(90));
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"00:01:30\"");
        assert!(serde_json::from_str::<PollingSleep>("\"24:00:00\"").is_err());
        assert!(serde_json::from_str::<PollingSleep>("\"00:00:00\"").is_err());
        assert!(serde_json::from_str::<PollingSleep>("300").is_err());
    }
}
