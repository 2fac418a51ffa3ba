//! The downgrade guard of assignments (see [`crate::versions`]).

use super::super::{ApiError, AppState};

/// Attribute in which the agent reports the installed bundle version (configData).
pub const INSTALLED_VERSION_ATTRIBUTE: &str = "installed_version";

/// Refuses (409) to assign distribution set `ds_id` to the target when a RAUC bundle in it is
/// older than the target's reported `installed_version`, unless `downgrade` is set. Targets
/// that reported no version, and bundles without a comparable version, are not blocked.
pub(crate) async fn check_downgrade(
    state: &AppState,
    target_id: i64,
    controller_id: &str,
    ds_id: i64,
    downgrade: bool,
) -> Result<(), ApiError> {
    if downgrade {
        return Ok(());
    }
    let attrs = state.store.target_attributes(target_id).await?;
    let Some(installed) = attrs.get(INSTALLED_VERSION_ATTRIBUTE) else {
        return Ok(());
    };
    let Some(ds) = state.store.distribution_set(ds_id).await? else {
        return Err(ApiError::NotFound);
    };
    for module_id in ds.module_ids {
        for artifact in state.store.artifacts_of_module(module_id).await? {
            let Some(version) = artifact.bundle.and_then(|b| b.version) else {
                continue;
            };
            if crate::versions::is_downgrade(&version, installed) {
                return Err(ApiError::Conflict(format!(
                    "{} carries bundle version {version}, older than the {installed} target \
                     {controller_id} runs; assign with \"downgrade\": true to install it anyway",
                    artifact.filename
                )));
            }
        }
    }
    Ok(())
}
