//! Per-device configuration from the server (the DDI `deviceConfig`
//! extension): fetched when the poll links it, checked against an optional
//! schema shipped in the image, written atomically to the file the
//! application reads (the previous file kept beside it), followed by an
//! optional reload command, and confirmed to the server with the revision
//! applied, or the reason it was not.
//!
//! The schema is deliberately small, a JSON object:
//!
//! ```json
//! { "keys": { "wifi_ssid": { "type": "string", "required": true },
//!             "log_level": { "type": "string", "enum": ["info", "debug"] },
//!             "upload_interval_s": { "type": "integer" } },
//!   "additional_keys": false }
//! ```
//! Types are `string`, `integer`, `number` and `boolean` (values travel as
//! strings and must parse as the type).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `[device_config]` in the agent's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The file the application reads (a JSON object of key/values).
    pub path: PathBuf,
    /// Optional schema file (see the module docs).
    pub schema: Option<PathBuf>,
    /// Optional command run after a new file is in place (argv).
    #[serde(default)]
    pub reload_command: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Schema {
    #[serde(default)]
    keys: BTreeMap<String, KeyRule>,
    #[serde(default = "yes")]
    additional_keys: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRule {
    #[serde(rename = "type", default = "string_type")]
    kind: String,
    #[serde(default)]
    required: bool,
    #[serde(rename = "enum")]
    allowed: Option<Vec<String>>,
}

fn string_type() -> String {
    "string".into()
}

/// Checks `config` against the schema text; the error names the key.
pub fn validate(schema_text: &str, config: &BTreeMap<String, String>) -> Result<(), String> {
    let schema: Schema = serde_json::from_str(schema_text)
        .map_err(|e| format!("the configuration schema is invalid: {e}"))?;
    for (key, rule) in &schema.keys {
        let Some(value) = config.get(key) else {
            if rule.required {
                return Err(format!("missing required key {key:?}"));
            }
            continue;
        };
        let ok = match rule.kind.as_str() {
            "string" => true,
            "integer" => value.parse::<i64>().is_ok(),
            "number" => value.parse::<f64>().is_ok(),
            "boolean" => matches!(value.as_str(), "true" | "false"),
            other => {
                return Err(format!(
                    "the configuration schema has unknown type {other:?} for {key:?}"
                ))
            }
        };
        if !ok {
            return Err(format!(
                "key {key:?} must be a {}, got {value:?}",
                rule.kind
            ));
        }
        if let Some(allowed) = &rule.allowed {
            if !allowed.contains(value) {
                return Err(format!(
                    "key {key:?} must be one of {allowed:?}, got {value:?}"
                ));
            }
        }
    }
    if !schema.additional_keys {
        if let Some(extra) = config.keys().find(|k| !schema.keys.contains_key(*k)) {
            return Err(format!(
                "unknown key {extra:?} (the schema allows no others)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn schema_checks_types_required_enums_and_extras() {
        let schema = r#"{"keys": {"ssid": {"required": true}, "n": {"type": "integer"},
                         "level": {"enum": ["info", "debug"]}}, "additional_keys": false}"#;
        validate(
            schema,
            &cfg(&[("ssid", "x"), ("n", "3"), ("level", "info")]),
        )
        .unwrap();
        assert!(validate(schema, &cfg(&[("n", "3")]))
            .unwrap_err()
            .contains("\"ssid\""));
        assert!(validate(schema, &cfg(&[("ssid", "x"), ("n", "three")]))
            .unwrap_err()
            .contains("integer"));
        assert!(validate(schema, &cfg(&[("ssid", "x"), ("level", "loud")]))
            .unwrap_err()
            .contains("one of"));
        assert!(validate(schema, &cfg(&[("ssid", "x"), ("other", "1")]))
            .unwrap_err()
            .contains("\"other\""));
        assert!(validate("{", &cfg(&[]))
            .unwrap_err()
            .contains("schema is invalid"));
    }
}
