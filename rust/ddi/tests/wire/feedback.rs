use ota_ddi::{ActionFeedback, Execution, Finished, LegacyId, Progress};

use crate::helpers::*;

#[test]
fn golden_feedback_from_the_docs() {
    let fb: ActionFeedback = assert_round_trip(&fixture("feedback.json"));
    assert_eq!(fb.timestamp, Some(1627997501890));
    assert_eq!(fb.status.execution, Execution::Proceeding);
    assert_eq!(fb.status.result.finished, Finished::None);
    assert_eq!(fb.status.result.progress, Some(Progress::steps(2, 5)));
    assert_eq!(fb.status.code, Some(200));
    assert_eq!(fb.status.details, ["Some feedback"]);
}

#[test]
fn feedback_ignores_unknown_fields() {
    assert_ignores_unknown_fields::<ActionFeedback>(
        &fixture("feedback.json"),
        &["", "/status", "/status/result"],
    );
}

#[test]
fn every_execution_and_finished_value_round_trips() {
    let executions = [
        "closed",
        "proceeding",
        "canceled",
        "scheduled",
        "rejected",
        "resumed",
        "downloaded",
        "download",
    ];
    for e in executions {
        for f in ["success", "failure", "none"] {
            let json =
                format!(r#"{{"status":{{"execution":"{e}","result":{{"finished":"{f}"}}}}}}"#);
            assert_round_trip::<ActionFeedback>(&json);
        }
    }
    assert!(serde_json::from_str::<Execution>("\"done\"").is_err());
}

/// Bodies captured from swupdate, rauc-hawkbit-updater and the Python rauc-hawkbit client.
#[test]
fn accepts_what_real_clients_send() {
    let cases: [(&str, Execution, Finished); 6] = [
        (
            r#"{"id":7,"time":"20261129T123628","status":{"result":{"progress":{"cnt":0,"of":1},"finished":"none"},"execution":"proceeding","details":["Installing Update Chunk Artifacts."]}}"#,
            Execution::Proceeding,
            Finished::None,
        ),
        (
            r#"{"id":7,"time":"20261129T123741","status":{"result":{"progress":{"cnt":0,"of":0},"finished":"success"},"execution":"closed","details":["Update Installed."]}}"#,
            Execution::Closed,
            Finished::Success,
        ),
        (
            r#"{"id":"7","time":"20261129T123801","status":{"result":{"finished":"none"},"execution":"proceeding","details":["Download complete. 0.06 MB/s"]}}"#,
            Execution::Proceeding,
            Finished::None,
        ),
        (
            r#"{"id":"7","time":"...","status":{"result":{"finished":"failure"},"execution":"closed","details":["Failed to install software bundle."]}}"#,
            Execution::Closed,
            Finished::Failure,
        ),
        (
            r#"{"id":"7","time":"...","status":{"result":{"progress":{"percentage":50},"finished":"none"},"execution":"proceeding","details":["50%"]}}"#,
            Execution::Proceeding,
            Finished::None,
        ),
        (
            r#"{"id":"7","time":"...","status":{"result":{"progress":{},"finished":"success"},"execution":"closed","details":["done"]}}"#,
            Execution::Closed,
            Finished::Success,
        ),
    ];
    for (body, e, f) in cases {
        let fb: ActionFeedback =
            serde_json::from_str(body).unwrap_or_else(|err| panic!("{body}: {err}"));
        assert_eq!(
            (fb.status.execution, fb.status.result.finished),
            (e, f),
            "{body}"
        );
        // What the client sent survives a round trip, so a server can log it faithfully.
        let again: ActionFeedback =
            serde_json::from_value(serde_json::to_value(&fb).unwrap()).unwrap();
        assert_eq!(again, fb);
    }
}

#[test]
fn legacy_id_keeps_its_shape() {
    let num: ActionFeedback = serde_json::from_str(
        r#"{"id":7,"status":{"execution":"closed","result":{"finished":"success"}}}"#,
    )
    .unwrap();
    assert_eq!(num.id, Some(LegacyId::Number(7)));
    let text: ActionFeedback = serde_json::from_str(
        r#"{"id":"","status":{"execution":"closed","result":{"finished":"success"}}}"#,
    )
    .unwrap();
    assert_eq!(text.id, Some(LegacyId::Text(String::new())));
    let odd: ActionFeedback = serde_json::from_str(
        r#"{"id":[1],"status":{"execution":"closed","result":{"finished":"success"}}}"#,
    )
    .unwrap();
    assert!(matches!(odd.id, Some(LegacyId::Other(_))));
}

#[test]
fn progress_of_any_shape_is_tolerated() {
    let parse = |p: &str| -> Progress {
        let body = format!(
            r#"{{"status":{{"execution":"proceeding","result":{{"finished":"none","progress":{p}}}}}}}"#
        );
        serde_json::from_str::<ActionFeedback>(&body)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .status
            .result
            .progress
            .unwrap_or_default()
    };
    assert_eq!(parse(r#"{"cnt":3,"of":4}"#), Progress::steps(3, 4));
    assert_eq!(parse("{}"), Progress::default());
    let pct = parse(r#"{"percentage":50}"#);
    assert_eq!((pct.cnt, pct.of), (None, None));
    assert_eq!(pct.other["percentage"], 50);
    // Values that are not counts stay in `other` rather than failing the report.
    let odd = parse(r#"{"cnt":"3","of":-1}"#);
    assert_eq!((odd.cnt, odd.of), (None, None));
    assert_eq!(odd.other.len(), 2);
    for p in ["null", "42", "\"half\"", "[1,2]"] {
        assert_eq!(parse(p), Progress::default(), "{p}");
    }
}

#[test]
fn client_side_construction_is_minimal() {
    let fb = ActionFeedback::new(Execution::Closed, Finished::Success, vec![]);
    assert_eq!(
        serde_json::to_string(&fb).unwrap(),
        r#"{"status":{"execution":"closed","result":{"finished":"success"}}}"#
    );
}
