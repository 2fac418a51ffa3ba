use std::fmt::Debug;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// Reads `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Parses `json` as `T`, serializes it again and checks the result is the same JSON document
/// (ignoring whitespace and key order). Returns the parsed value for further assertions.
pub fn assert_round_trip<T>(json: &str) -> T
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let original: Value = serde_json::from_str(json).expect("fixture is JSON");
    let parsed: T = serde_json::from_str(json).expect("fixture parses");
    let written = serde_json::to_value(&parsed).expect("serializes");
    assert_eq!(written, original, "round trip changed the document");
    let again: T = serde_json::from_value(written).expect("re-parses");
    assert_eq!(again, parsed);
    parsed
}

/// Adds an unknown member (with a nested object and array, so a lenient reader must skip a whole
/// subtree) to the objects at each JSON pointer, then checks the document still parses to the
/// same value as without them.
pub fn assert_ignores_unknown_fields<T>(json: &str, pointers: &[&str])
where
    T: DeserializeOwned + PartialEq + Debug,
{
    let plain: T = serde_json::from_str(json).expect("fixture parses");
    let mut doc: Value = serde_json::from_str(json).unwrap();
    for p in pointers {
        let obj = doc
            .pointer_mut(p)
            .unwrap_or_else(|| panic!("no value at {p:?}"))
            .as_object_mut()
            .unwrap_or_else(|| panic!("value at {p:?} is not an object"));
        obj.insert(
            "someFutureField".into(),
            json!({"nested": [1, "two", {"three": null}], "flag": true}),
        );
        obj.insert("anotherOne".into(), json!(42));
    }
    let extended: T = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("unknown fields were rejected: {e}\n{doc:#}"));
    assert_eq!(extended, plain);
}
