//! What a device's feedback does to an action: the DDI status mapping, kept free of HTTP and
//! SQL so it can be read and tested as a table.
//!
//! The mapping follows hawkBit's documented behaviour, which the real clients are written
//! against (see the DDI reference, "Feedback semantics").

use ota_ddi::{Execution, Finished, Status};

use crate::store::{Action, ActionState, ActionType, HistoryStatus};

/// The effect of one feedback report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// New action state, or `None` to only record the report.
    pub new_state: Option<ActionState>,
    /// The history entry to append.
    pub history: HistoryStatus,
}

impl Transition {
    const fn note(history: HistoryStatus) -> Self {
        Transition {
            new_state: None,
            history,
        }
    }
    const fn to(state: ActionState, history: HistoryStatus) -> Self {
        Transition {
            new_state: Some(state),
            history,
        }
    }
}

/// Feedback on `.../deploymentBase/{id}/feedback`.
///
/// | execution | finished | effect |
/// |---|---|---|
/// | closed | failure | action closed as error |
/// | closed | success, none | action finished (installed) |
/// | canceled | any | action canceled |
/// | rejected | any | warning recorded, action stays open |
/// | downloaded | any | closes a download-only action as finished, else recorded |
/// | download | any | recorded |
/// | scheduled | any | recorded |
/// | proceeding, resumed | any | recorded |
pub fn deployment_feedback(action: &Action, status: &Status) -> Transition {
    use HistoryStatus as H;
    match status.execution {
        Execution::Closed if status.result.finished == Finished::Failure => {
            Transition::to(ActionState::Error, H::Error)
        }
        Execution::Closed => Transition::to(ActionState::Finished, H::Finished),
        Execution::Canceled => Transition::to(ActionState::Canceled, H::Canceled),
        Execution::Rejected => Transition::note(H::Warning),
        Execution::Downloaded if action.action_type == ActionType::DownloadOnly => {
            Transition::to(ActionState::Finished, H::Downloaded)
        }
        Execution::Downloaded => Transition::note(H::Downloaded),
        Execution::Download => Transition::note(H::Download),
        Execution::Scheduled => Transition::note(H::Scheduled),
        Execution::Proceeding | Execution::Resumed => Transition::note(H::Running),
    }
}

/// Feedback on `.../cancelAction/{id}/feedback`.
///
/// | execution | finished | effect |
/// |---|---|---|
/// | closed | success, none | cancellation accepted: action canceled |
/// | closed | failure | action closed as error |
/// | rejected | any | cancellation refused: the action runs on |
/// | canceled | any | warning recorded (hawkBit calls this a misuse) |
/// | anything else | any | recorded |
pub fn cancel_feedback(status: &Status) -> Transition {
    use HistoryStatus as H;
    match status.execution {
        Execution::Closed if status.result.finished == Finished::Failure => {
            Transition::to(ActionState::Error, H::Error)
        }
        Execution::Closed => Transition::to(ActionState::Canceled, H::Canceled),
        Execution::Rejected => Transition::to(ActionState::Running, H::CancelRejected),
        Execution::Canceled => Transition::note(H::Warning),
        _ => Transition::note(H::Running),
    }
}

/// The message recorded when a device sends no details.
pub fn default_message(status: &Status) -> String {
    let exec = serde_json::to_value(status.execution).ok();
    let fin = serde_json::to_value(status.result.finished).ok();
    let name = |v: Option<serde_json::Value>| {
        v.and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    format!("Target reported {} with {}", name(exec), name(fin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ota_ddi::FeedbackResult;

    fn action(t: ActionType) -> Action {
        Action {
            action_id: 1,
            target_id: 1,
            distribution_set_id: 1,
            action_type: t,
            state: ActionState::Running,
            active: true,
            created_at: 0,
            updated_at: 0,
            forced_time: None,
            weight: None,
            maintenance: None,
        }
    }

    fn status(execution: Execution, finished: Finished) -> Status {
        Status {
            execution,
            result: FeedbackResult {
                finished,
                progress: None,
            },
            code: None,
            details: vec![],
        }
    }

    #[test]
    fn deployment_mapping_matches_the_table() {
        use ActionState as S;
        use Execution as E;
        use Finished as F;
        use HistoryStatus as H;
        let forced = action(ActionType::Forced);
        let dl_only = action(ActionType::DownloadOnly);
        let cases = [
            (&forced, E::Closed, F::Failure, Some(S::Error), H::Error),
            (
                &forced,
                E::Closed,
                F::Success,
                Some(S::Finished),
                H::Finished,
            ),
            (&forced, E::Closed, F::None, Some(S::Finished), H::Finished),
            (
                &forced,
                E::Canceled,
                F::None,
                Some(S::Canceled),
                H::Canceled,
            ),
            (&forced, E::Rejected, F::None, None, H::Warning),
            (&forced, E::Downloaded, F::Success, None, H::Downloaded),
            (
                &dl_only,
                E::Downloaded,
                F::Success,
                Some(S::Finished),
                H::Downloaded,
            ),
            (&forced, E::Download, F::None, None, H::Download),
            (&forced, E::Scheduled, F::None, None, H::Scheduled),
            (&forced, E::Proceeding, F::None, None, H::Running),
            (&forced, E::Resumed, F::None, None, H::Running),
        ];
        for (a, e, f, state, history) in cases {
            assert_eq!(
                deployment_feedback(a, &status(e, f)),
                Transition {
                    new_state: state,
                    history
                },
                "{e:?}/{f:?}"
            );
        }
    }

    #[test]
    fn cancel_mapping_matches_the_table() {
        use ActionState as S;
        use Execution as E;
        use Finished as F;
        use HistoryStatus as H;
        let cases = [
            (E::Closed, F::Success, Some(S::Canceled), H::Canceled),
            (E::Closed, F::None, Some(S::Canceled), H::Canceled),
            (E::Closed, F::Failure, Some(S::Error), H::Error),
            (E::Rejected, F::Success, Some(S::Running), H::CancelRejected),
            (E::Canceled, F::None, None, H::Warning),
            (E::Proceeding, F::None, None, H::Running),
        ];
        for (e, f, state, history) in cases {
            assert_eq!(
                cancel_feedback(&status(e, f)),
                Transition {
                    new_state: state,
                    history
                },
                "{e:?}/{f:?}"
            );
        }
    }

    #[test]
    fn default_message_names_the_report() {
        assert_eq!(
            default_message(&status(Execution::Closed, Finished::Success)),
            "Target reported closed with success"
        );
    }
}
