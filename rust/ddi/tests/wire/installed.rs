use ota_ddi::InstalledBase;

use crate::helpers::*;

#[test]
fn golden_installed_base_report() {
    let ib: InstalledBase = assert_round_trip(&fixture("installed_base_report.json"));
    assert_eq!(
        (ib.name.as_str(), ib.version.as_str()),
        ("factory-image", "1.2.3")
    );
}

#[test]
fn installed_base_report_ignores_unknown_fields() {
    assert_ignores_unknown_fields::<InstalledBase>(&fixture("installed_base_report.json"), &[""]);
}
