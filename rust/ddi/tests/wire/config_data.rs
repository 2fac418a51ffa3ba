use ota_ddi::{ConfigData, UpdateMode};

use crate::helpers::*;

#[test]
fn golden_config_data_from_the_docs() {
    let cd: ConfigData = assert_round_trip(&fixture("config_data.json"));
    assert_eq!(cd.mode, Some(UpdateMode::Merge));
    assert_eq!(cd.data["VIN"], "JH4TB2H26CC000000");
    assert_eq!(cd.data["hwRevision"], "2");
}

#[test]
fn all_modes_round_trip() {
    for mode in ["merge", "replace", "remove"] {
        let json = format!(r#"{{"data":{{"k":"v"}},"mode":"{mode}"}}"#);
        assert_round_trip::<ConfigData>(&json);
    }
    assert!(serde_json::from_str::<ConfigData>(r#"{"data":{},"mode":"append"}"#).is_err());
}

#[test]
fn config_data_ignores_unknown_fields() {
    assert_ignores_unknown_fields::<ConfigData>(&fixture("config_data.json"), &[""]);
}

/// Bodies captured from real clients: legacy `id`, `time` and `status`, and no `mode`.
#[test]
fn accepts_what_real_clients_send() {
    let bodies = [
        r#"{"id":"","time":"20261129T123623","status":{"result":{"finished":"success"},"execution":"closed","details":[""]},"data":{"hw_revision":"1.0","hw_boardname":"testboard"}}"#,
        r#"{"time":"20261129T123756","status":{"result":{"finished":"success"},"execution":"closed"},"data":{"model":"T1","mac_address":"ff:ff:ff:ff:ff:ff","hw_revision":"2"}}"#,
        r#"{"id":"","time":"20261129T123824","status":{"result":{"finished":"success"},"execution":"closed","details":[]},"data":{"mac_address":"ff:ff","hw_revision":"2"}}"#,
    ];
    for body in bodies {
        let cd: ConfigData = serde_json::from_str(body).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(cd.mode(), UpdateMode::Merge);
        assert!(cd.data.contains_key("hw_revision"));
    }
}
