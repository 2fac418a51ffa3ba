use ota_ddi::{paths, AppliedConfig, ControllerBase, DeviceConfig, Link, Links};

use crate::helpers::*;

const CONFIG: &str =
    r#"{"revision":7,"config":{"mqtt.host":"broker.example.com","mqtt.password":"s3cret"}}"#;

#[test]
fn device_config_round_trips() {
    let c: DeviceConfig = assert_round_trip(CONFIG);
    assert_eq!(c.revision, 7);
    assert_eq!(c.config["mqtt.host"], "broker.example.com");
    let empty: DeviceConfig = assert_round_trip(r#"{"revision":2,"config":{}}"#);
    assert!(empty.config.is_empty());
}

#[test]
fn device_config_ignores_unknown_fields() {
    assert_ignores_unknown_fields::<DeviceConfig>(CONFIG, &[""]);
}

#[test]
fn applied_config_omits_a_missing_error() {
    assert_eq!(
        serde_json::to_string(&AppliedConfig::applied(3)).unwrap(),
        r#"{"revision":3}"#
    );
    let failed: AppliedConfig = assert_round_trip(r#"{"revision":3,"error":"no such key"}"#);
    assert_eq!(failed, AppliedConfig::failed(3, "no such key"));
    assert_ignores_unknown_fields::<AppliedConfig>(r#"{"revision":3,"error":"x"}"#, &[""]);
    assert_ignores_unknown_fields::<AppliedConfig>(r#"{"revision":3}"#, &[""]);
    assert!(serde_json::from_str::<AppliedConfig>(r#"{"error":"x"}"#).is_err());
    assert!(serde_json::from_str::<AppliedConfig>(r#"{"revision":-1}"#).is_err());
}

#[test]
fn device_config_link_is_optional_and_skipped_when_absent() {
    let base: ControllerBase = serde_json::from_str(
        r#"{"config":{"polling":{"sleep":"00:01:00"}},"_links":{"deviceConfig":{"href":"http://h/DEFAULT/controller/v1/d1/deviceConfig"}}}"#,
    )
    .unwrap();
    assert_eq!(
        base.links.device_config,
        Some(Link::new("http://h/DEFAULT/controller/v1/d1/deviceConfig"))
    );
    let idle = serde_json::to_string(&Links::default()).unwrap();
    assert_eq!(idle, "{}");
    assert!(!serde_json::to_string(&Links {
        config_data: Some(Link::new("x")),
        ..Links::default()
    })
    .unwrap()
    .contains("deviceConfig"));
}

#[test]
fn device_config_paths() {
    assert_eq!(
        paths::device_config("DEFAULT", "dev 1"),
        "/DEFAULT/controller/v1/dev%201/deviceConfig"
    );
    assert_eq!(
        paths::device_config_applied("DEFAULT", "d"),
        "/DEFAULT/controller/v1/d/deviceConfig/applied"
    );
}
