use thiserror::Error;

/// Why a DDI value could not be parsed.
///
/// Serde errors from JSON decoding are `serde_json::Error`; this enum covers the values this crate
/// validates itself, where the caller may want to know *what* was wrong (for example to log a
/// misconfigured server before falling back to a local polling interval).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The polling interval is not of the form `HH:MM:SS` with two digits per field.
    #[error("polling sleep {0:?} is not of the form HH:MM:SS")]
    MalformedPollingSleep(String),
    /// A field of the polling interval is out of range (hours must be below 24 because clients
    /// parse the value with `strptime("%T")`, minutes and seconds below 60).
    #[error("polling sleep {0:?} is out of range (hours 00-23, minutes and seconds 00-59)")]
    PollingSleepOutOfRange(String),
    /// A polling interval of zero would make the device poll in a tight loop.
    #[error("polling sleep must be greater than 00:00:00")]
    ZeroPollingSleep,
    /// An action id is not a non-negative decimal integer.
    #[error("action id {0:?} is not a non-negative integer")]
    InvalidActionId(String),
}
