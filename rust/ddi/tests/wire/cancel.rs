use ota_ddi::{ActionId, CancelActionBase};

use crate::helpers::*;

#[test]
fn golden_cancel_action() {
    let c: CancelActionBase = assert_round_trip(&fixture("cancel_action.json"));
    assert_eq!(c.id, ActionId(11));
    assert_eq!(c.cancel_action.stop_id, ActionId(11));
}

#[test]
fn cancel_action_ignores_unknown_fields() {
    assert_ignores_unknown_fields::<CancelActionBase>(
        &fixture("cancel_action.json"),
        &["", "/cancelAction"],
    );
}
