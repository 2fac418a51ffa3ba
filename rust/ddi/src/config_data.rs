//! Device attributes: `PUT /{tenant}/controller/v1/{controllerId}/configData`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Attributes the device reports about itself (hardware revision, MAC address, ...).
///
/// Real clients (swupdate, rauc-hawkbit-updater, rauc-hawkbit) send legacy fields `id`, `time`
/// and `status` next to `data` and never send `mode`; those fields are accepted and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigData {
    /// Attribute name to value.
    pub data: BTreeMap<String, String>,
    /// How `data` combines with what the server already stores. Absent means
    /// [`UpdateMode::Merge`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<UpdateMode>,
}

impl ConfigData {
    /// The effective mode (`merge` when absent).
    pub fn mode(&self) -> UpdateMode {
        self.mode.unwrap_or_default()
    }

    /// Applies this update to the attributes the server stored before.
    pub fn apply_to(&self, current: &mut BTreeMap<String, String>) {
        match self.mode() {
            UpdateMode::Merge => {
                current.extend(self.data.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            UpdateMode::Replace => current.clone_from(&self.data),
            UpdateMode::Remove => {
                for k in self.data.keys() {
                    current.remove(k);
                }
            }
        }
    }
}

/// How a [`ConfigData`] update combines with the stored attributes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateMode {
    /// Add the given keys, overwriting existing values.
    #[default]
    Merge,
    /// Replace all stored attributes with the given ones.
    Replace,
    /// Remove the given keys (values are ignored).
    Remove,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn modes_combine_as_documented() {
        let before = map(&[("a", "1"), ("b", "2")]);
        let upd = |mode| ConfigData {
            data: map(&[("b", "3"), ("c", "4")]),
            mode,
        };

        let mut m = before.clone();
        upd(None).apply_to(&mut m);
        assert_eq!(m, map(&[("a", "1"), ("b", "3"), ("c", "4")]));

        let mut m = before.clone();
        upd(Some(UpdateMode::Replace)).apply_to(&mut m);
        assert_eq!(m, map(&[("b", "3"), ("c", "4")]));

        let mut m = before;
        upd(Some(UpdateMode::Remove)).apply_to(&mut m);
        assert_eq!(m, map(&[("a", "1")]));
    }
}
