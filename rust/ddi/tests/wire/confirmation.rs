use ota_ddi::{
    ActionId, ActivateAutoConfirm, Confirmation, ConfirmationBase, ConfirmationBaseAction,
    ConfirmationFeedback,
};

use crate::helpers::*;

#[test]
fn golden_confirmation_base() {
    let c: ConfirmationBase = assert_round_trip(&fixture("confirmation_base.json"));
    assert!(!c.auto_confirm.active);
    assert!(c.links.confirmation_base.is_some());
    let auto: ConfirmationBase = assert_round_trip(&fixture("confirmation_base_auto.json"));
    assert_eq!(auto.auto_confirm.activated_at, Some(1691065895439));
    assert_eq!(
        auto.auto_confirm.initiator.as_deref(),
        Some("exampleUserId")
    );
}

#[test]
fn confirmation_base_ignores_unknown_fields() {
    assert_ignores_unknown_fields::<ConfirmationBase>(
        &fixture("confirmation_base.json"),
        &["", "/autoConfirm", "/_links", "/_links/confirmationBase"],
    );
}

#[test]
fn golden_confirmation_base_action() {
    let c: ConfirmationBaseAction = assert_round_trip(&fixture("confirmation_base_action.json"));
    assert_eq!(c.id, ActionId(10));
    assert_eq!(c.confirmation.chunks.len(), 1);
}

#[test]
fn confirmation_base_action_ignores_unknown_fields() {
    assert_ignores_unknown_fields::<ConfirmationBaseAction>(
        &fixture("confirmation_base_action.json"),
        &[
            "",
            "/confirmation",
            "/confirmation/chunks/0",
            "/actionHistory",
        ],
    );
}

#[test]
fn golden_confirmation_feedback() {
    let f: ConfirmationFeedback = assert_round_trip(&fixture("confirmation_feedback.json"));
    assert_eq!(f.confirmation, Confirmation::Confirmed);
    assert_round_trip::<ConfirmationFeedback>(r#"{"confirmation":"denied"}"#);
}

#[test]
fn confirmation_feedback_ignores_unknown_fields() {
    assert_ignores_unknown_fields::<ConfirmationFeedback>(
        &fixture("confirmation_feedback.json"),
        &[""],
    );
}

#[test]
fn activate_auto_confirm_body_is_optional_in_every_part() {
    assert_eq!(
        assert_round_trip::<ActivateAutoConfirm>("{}"),
        ActivateAutoConfirm::default()
    );
    assert_round_trip::<ActivateAutoConfirm>(r#"{"initiator":"me","remark":"ok"}"#);
    assert_ignores_unknown_fields::<ActivateAutoConfirm>(r#"{"initiator":"me"}"#, &[""]);
}
