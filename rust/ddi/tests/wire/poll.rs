use std::time::Duration;

use ota_ddi::{ControllerBase, ControllerConfig, Link, Links, Polling, PollingSleep};

use crate::helpers::*;

#[test]
fn golden_controller_base_from_the_docs() {
    let base: ControllerBase = assert_round_trip(&fixture("controller_base.json"));
    assert_eq!(
        base.config.polling.sleep.as_duration(),
        Duration::from_secs(12 * 3600)
    );
    assert_eq!(
        base.links.deployment_base.unwrap().href,
        "https://host/TENANT_ID/controller/v1/CONTROLLER_ID/deploymentBase/5?c=-2127183556"
    );
    assert!(base.links.installed_base.is_some());
    assert!(base.links.config_data.is_some());
    assert!(base.links.cancel_action.is_none());
    assert!(base.links.confirmation_base.is_none());
}

#[test]
fn golden_cancel_and_idle_polls() {
    let base: ControllerBase = assert_round_trip(&fixture("controller_base_cancel.json"));
    assert!(base.links.cancel_action.is_some());
    let idle: ControllerBase = assert_round_trip(&fixture("controller_base_idle.json"));
    assert_eq!(idle.links, Links::default());
}

#[test]
fn missing_links_mean_nothing_to_do() {
    let base: ControllerBase =
        serde_json::from_str(r#"{"config":{"polling":{"sleep":"00:00:30"}}}"#).unwrap();
    assert_eq!(base.links, Links::default());
}

#[test]
fn controller_base_ignores_unknown_fields() {
    assert_ignores_unknown_fields::<ControllerBase>(
        &fixture("controller_base.json"),
        &[
            "",
            "/config",
            "/config/polling",
            "/_links",
            "/_links/deploymentBase",
        ],
    );
    // An unknown link relation (a server extension) is ignored as well.
    let base: ControllerBase = serde_json::from_str(
        r#"{"config":{"polling":{"sleep":"00:00:30"}},"_links":{"someFutureRelation":{"href":"x"}}}"#,
    )
    .unwrap();
    assert_eq!(base.links, Links::default());
}

#[test]
fn bad_sleep_fails_the_whole_poll_instead_of_becoming_zero() {
    for sleep in ["24:00:00", "00:00:00", "5 minutes", "", "00:05"] {
        let json = format!(r#"{{"config":{{"polling":{{"sleep":"{sleep}"}}}},"_links":{{}}}}"#);
        let err = serde_json::from_str::<ControllerBase>(&json).unwrap_err();
        assert!(
            err.to_string().contains("polling sleep"),
            "{sleep:?}: {err}"
        );
    }
}

#[test]
fn server_side_construction_serializes_as_clients_expect() {
    let base = ControllerBase {
        config: ControllerConfig {
            polling: Polling {
                sleep: PollingSleep::from_secs(300).unwrap(),
            },
        },
        links: Links {
            config_data: Some(Link::new("http://h/configData")),
            ..Links::default()
        },
    };
    assert_eq!(
        serde_json::to_string(&base).unwrap(),
        r#"{"config":{"polling":{"sleep":"00:05:00"}},"_links":{"configData":{"href":"http://h/configData"}}}"#
    );
}
