//! Device → server reports: `POST .../deploymentBase/{actionId}/feedback` and
//! `POST .../cancelAction/{actionId}/feedback`.

use serde::de::Deserializer;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A progress or outcome report for an action.
///
/// Parsing is lenient because real clients differ: swupdate sends the legacy `id` as a number,
/// rauc-hawkbit-updater as a string, both add a `time` string, and `progress` comes as
/// `{cnt,of}`, `{}`, `{"percentage":N}` or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionFeedback {
    /// Device time of the report in milliseconds since the epoch; the server uses its own clock
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// Legacy action id echoed by older clients; the server takes the id from the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<LegacyId>,
    /// Legacy device time string (`20261129T123628`) sent by older clients; informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The report.
    pub status: Status,
}

impl ActionFeedback {
    /// A report with only the required parts.
    pub fn new(execution: Execution, finished: Finished, details: Vec<String>) -> Self {
        ActionFeedback {
            timestamp: None,
            id: None,
            time: None,
            status: Status {
                execution,
                result: FeedbackResult {
                    finished,
                    progress: None,
                },
                code: None,
                details,
            },
        }
    }
}

/// The legacy `id` field of feedback bodies, in whatever shape the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LegacyId {
    /// A JSON integer (swupdate).
    Number(i64),
    /// A JSON string (rauc-hawkbit-updater, rauc-hawkbit; may be empty).
    Text(String),
    /// Anything else; kept so that no client is turned away for a field nobody reads.
    Other(Value),
}

/// The `status` object of a feedback report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Where the device is in handling the action.
    pub execution: Execution,
    /// The result so far.
    pub result: FeedbackResult,
    /// Device-specific status code; the server records it as a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// Free-form messages (swupdate streams its whole install log here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// The execution state a device reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Execution {
    /// Handling is complete; `result.finished` says how it went.
    Closed,
    /// Work is in progress.
    Proceeding,
    /// The device canceled the action.
    Canceled,
    /// The device scheduled the work for later.
    Scheduled,
    /// The device refuses the action (or the cancellation).
    Rejected,
    /// Work continues after an interruption.
    Resumed,
    /// Download finished (closes download-only actions).
    Downloaded,
    /// Download started.
    Download,
}

/// The `result` object of a feedback report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackResult {
    /// Outcome so far.
    pub finished: Finished,
    /// Optional progress; hawkBit documents it as unsupported, so any shape is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// Outcome of an action as reported by the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Finished {
    /// It worked.
    Success,
    /// It failed.
    Failure,
    /// No outcome yet.
    None,
}

/// Progress of an action, in whatever shape the client sent it.
///
/// `cnt` and `of` are extracted when they are non-negative integers; every other member of the
/// object is kept in [`Progress::other`] (for example `percentage` from the Python client). A
/// `progress` value that is not an object at all is accepted and read as empty progress, because
/// refusing a whole feedback report over an unsupported, informational field would lose the
/// outcome the device is trying to report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Steps done.
    pub cnt: Option<u64>,
    /// Steps in total.
    pub of: Option<u64>,
    /// Other members of the progress object.
    pub other: Map<String, Value>,
}

impl Progress {
    /// `cnt` of `of` steps done.
    pub fn steps(cnt: u64, of: u64) -> Self {
        Progress {
            cnt: Some(cnt),
            of: Some(of),
            other: Map::new(),
        }
    }
}

impl Serialize for Progress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len =
            self.other.len() + usize::from(self.cnt.is_some()) + usize::from(self.of.is_some());
        let mut map = serializer.serialize_map(Some(len))?;
        if let Some(cnt) = self.cnt {
            map.serialize_entry("cnt", &cnt)?;
        }
        if let Some(of) = self.of {
            map.serialize_entry("of", &of)?;
        }
        for (k, v) in &self.other {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Progress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Value::Object(mut obj) = Value::deserialize(deserializer)? else {
            return Ok(Progress::default());
        };
        let mut take = |key: &str| match obj.get(key).and_then(Value::as_u64) {
            Some(n) => {
                obj.remove(key);
                Some(n)
            }
            None => None,
        };
        let cnt = take("cnt");
        let of = take("of");
        Ok(Progress {
            cnt,
            of,
            other: obj,
        })
    }
}
