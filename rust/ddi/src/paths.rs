//! URL paths of the DDI API.
//!
//! The server builds its `_links` with these functions and the agent builds its requests with
//! them, so both sides agree on every path. They return *paths* (starting with `/`); the server
//! prefixes its external base URL, the agent its configured server URL. Tenant, controller id
//! and file names are percent-encoded as path segments, so an id containing `/` or `?` cannot
//! change the shape of the URL.
//!
//! [`route`] has the same paths as axum route templates (`{param}` captures).

use std::fmt::Write;

use crate::ActionId;

/// Appends `s` to `out`, percent-encoding everything except RFC 3986 unreserved characters.
fn push_segment(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Percent-encodes one path segment.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_segment(&mut out, s);
    out
}

/// `/{tenant}/controller/v1/{controllerId}`: the base poll, and the prefix of every other path.
pub fn controller_base(tenant: &str, controller_id: &str) -> String {
    let mut p = String::with_capacity(tenant.len() + controller_id.len() + 16);
    p.push('/');
    push_segment(&mut p, tenant);
    p.push_str("/controller/v1/");
    push_segment(&mut p, controller_id);
    p
}

/// `.../configData`
pub fn config_data(tenant: &str, controller_id: &str) -> String {
    controller_base(tenant, controller_id) + "/configData"
}

/// `.../deviceConfig` (extension): the device's configuration.
pub fn device_config(tenant: &str, controller_id: &str) -> String {
    controller_base(tenant, controller_id) + "/deviceConfig"
}

/// `.../deviceConfig/applied` (extension): the device's report on a configuration revision.
pub fn device_config_applied(tenant: &str, controller_id: &str) -> String {
    controller_base(tenant, controller_id) + "/deviceConfig/applied"
}

/// `.../deploymentBase/{actionId}?c={cache}`.
///
/// `cache` should change whenever what the server would answer changes (for example when a soft
/// action becomes forced), so that caches keyed on the URL are bypassed. It must always be
/// present: the Python rauc-hawkbit client finds the action id with a regex that requires `?c=`.
pub fn deployment_base(tenant: &str, controller_id: &str, action: ActionId, cache: i64) -> String {
    format!(
        "{}/deploymentBase/{action}?c={cache}",
        controller_base(tenant, controller_id)
    )
}

/// `.../deploymentBase/{actionId}/feedback`
pub fn deployment_feedback(tenant: &str, controller_id: &str, action: ActionId) -> String {
    format!(
        "{}/deploymentBase/{action}/feedback",
        controller_base(tenant, controller_id)
    )
}

/// `.../cancelAction/{actionId}`
pub fn cancel_action(tenant: &str, controller_id: &str, action: ActionId) -> String {
    format!(
        "{}/cancelAction/{action}",
        controller_base(tenant, controller_id)
    )
}

/// `.../cancelAction/{actionId}/feedback`
pub fn cancel_feedback(tenant: &str, controller_id: &str, action: ActionId) -> String {
    format!(
        "{}/cancelAction/{action}/feedback",
        controller_base(tenant, controller_id)
    )
}

/// `.../installedBase/{actionId}`
pub fn installed_base(tenant: &str, controller_id: &str, action: ActionId) -> String {
    format!(
        "{}/installedBase/{action}",
        controller_base(tenant, controller_id)
    )
}

/// `.../installedBase` (the experimental `PUT`).
pub fn installed_base_report(tenant: &str, controller_id: &str) -> String {
    controller_base(tenant, controller_id) + "/installedBase"
}

/// `.../confirmationBase`
pub fn confirmation_base(tenant: &str, controller_id: &str) -> String {
    controller_base(tenant, controller_id) + "/confirmationBase"
}

/// `.../confirmationBase/{actionId}?c={cache}`
pub fn confirmation_base_action(
    tenant: &str,
    controller_id: &str,
    action: ActionId,
    cache: i64,
) -> String {
    format!(
        "{}/confirmationBase/{action}?c={cache}",
        controller_base(tenant, controller_id)
    )
}

/// `.../confirmationBase/{actionId}/feedback`
pub fn confirmation_feedback(tenant: &str, controller_id: &str, action: ActionId) -> String {
    format!(
        "{}/confirmationBase/{action}/feedback",
        controller_base(tenant, controller_id)
    )
}

/// `.../confirmationBase/activateAutoConfirm`
pub fn activate_auto_confirm(tenant: &str, controller_id: &str) -> String {
    controller_base(tenant, controller_id) + "/confirmationBase/activateAutoConfirm"
}

/// `.../confirmationBase/deactivateAutoConfirm`
pub fn deactivate_auto_confirm(tenant: &str, controller_id: &str) -> String {
    controller_base(tenant, controller_id) + "/confirmationBase/deactivateAutoConfirm"
}

/// `.../softwaremodules/{softwareModuleId}/artifacts`
pub fn artifacts(tenant: &str, controller_id: &str, software_module: u64) -> String {
    format!(
        "{}/softwaremodules/{software_module}/artifacts",
        controller_base(tenant, controller_id)
    )
}

/// `.../softwaremodules/{softwareModuleId}/artifacts/{fileName}`
pub fn artifact(tenant: &str, controller_id: &str, software_module: u64, filename: &str) -> String {
    let mut p = artifacts(tenant, controller_id, software_module);
    p.push('/');
    push_segment(&mut p, filename);
    p
}

/// `.../softwaremodules/{softwareModuleId}/artifacts/{fileName}.MD5SUM`
pub fn artifact_md5sum(
    tenant: &str,
    controller_id: &str,
    software_module: u64,
    filename: &str,
) -> String {
    artifact(tenant, controller_id, software_module, filename) + MD5SUM_SUFFIX
}

/// Suffix that turns an artifact download path into its `.MD5SUM` path.
pub const MD5SUM_SUFFIX: &str = ".MD5SUM";

/// Extracts the action id and the `c` value from a `deploymentBase` href (absolute URL or path).
///
/// Returns `None` when the href is not a deploymentBase link. `c` is `None` when the server did
/// not send it or it is not an integer. Agents should still follow the href as given; this is
/// for logging and for remembering which action they are working on.
pub fn parse_deployment_href(href: &str) -> Option<(ActionId, Option<i64>)> {
    let (path, query) = match href.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (href, None),
    };
    let rest = &path[path.rfind("/deploymentBase/")? + "/deploymentBase/".len()..];
    let id = rest.parse().ok()?;
    let cache = query.and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("c="))
            .and_then(|v| v.parse().ok())
    });
    Some((id, cache))
}

/// The same paths as route templates for axum 0.8 (`{name}` captures one segment).
///
/// Capture names: `tenant`, `controller_id`, `action_id`, `module_id`, `filename`.
pub mod route {
    /// Base poll.
    pub const CONTROLLER_BASE: &str = "/{tenant}/controller/v1/{controller_id}";
    /// `PUT` attributes.
    pub const CONFIG_DATA: &str = "/{tenant}/controller/v1/{controller_id}/configData";
    /// Deployment.
    pub const DEPLOYMENT_BASE: &str =
        "/{tenant}/controller/v1/{controller_id}/deploymentBase/{action_id}";
    /// Deployment feedback.
    pub const DEPLOYMENT_FEEDBACK: &str =
        "/{tenant}/controller/v1/{controller_id}/deploymentBase/{action_id}/feedback";
    /// Cancel request.
    pub const CANCEL_ACTION: &str =
        "/{tenant}/controller/v1/{controller_id}/cancelAction/{action_id}";
    /// Cancel feedback.
    pub const CANCEL_FEEDBACK: &str =
        "/{tenant}/controller/v1/{controller_id}/cancelAction/{action_id}/feedback";
    /// Installed base of a finished action.
    pub const INSTALLED_BASE: &str =
        "/{tenant}/controller/v1/{controller_id}/installedBase/{action_id}";
    /// `PUT` installed base (offline assigned version).
    pub const INSTALLED_BASE_REPORT: &str = "/{tenant}/controller/v1/{controller_id}/installedBase";
    /// Confirmation state.
    pub const CONFIRMATION_BASE: &str = "/{tenant}/controller/v1/{controller_id}/confirmationBase";
    /// An action waiting for confirmation.
    pub const CONFIRMATION_BASE_ACTION: &str =
        "/{tenant}/controller/v1/{controller_id}/confirmationBase/{action_id}";
    /// The answer to a confirmation request.
    pub const CONFIRMATION_FEEDBACK: &str =
        "/{tenant}/controller/v1/{controller_id}/confirmationBase/{action_id}/feedback";
    /// Auto-confirm on.
    pub const ACTIVATE_AUTO_CONFIRM: &str =
        "/{tenant}/controller/v1/{controller_id}/confirmationBase/activateAutoConfirm";
    /// Auto-confirm off.
    pub const DEACTIVATE_AUTO_CONFIRM: &str =
        "/{tenant}/controller/v1/{controller_id}/confirmationBase/deactivateAutoConfirm";
    /// Device configuration (extension).
    pub const DEVICE_CONFIG: &str = "/{tenant}/controller/v1/{controller_id}/deviceConfig";
    /// Device configuration report (extension).
    pub const DEVICE_CONFIG_APPLIED: &str =
        "/{tenant}/controller/v1/{controller_id}/deviceConfig/applied";
    /// Artifact listing.
    pub const ARTIFACTS: &str =
        "/{tenant}/controller/v1/{controller_id}/softwaremodules/{module_id}/artifacts";
    /// Artifact download; also serves `{fileName}.MD5SUM` (see
    /// [`MD5SUM_SUFFIX`](super::MD5SUM_SUFFIX)), because a router cannot capture part of a
    /// segment.
    pub const ARTIFACT: &str =
        "/{tenant}/controller/v1/{controller_id}/softwaremodules/{module_id}/artifacts/{filename}";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_documented_paths() {
        let a = ActionId(5);
        assert_eq!(
            controller_base("DEFAULT", "dev1"),
            "/DEFAULT/controller/v1/dev1"
        );
        assert_eq!(
            deployment_base("DEFAULT", "dev1", a, -2127183556),
            "/DEFAULT/controller/v1/dev1/deploymentBase/5?c=-2127183556"
        );
        assert_eq!(
            deployment_feedback("DEFAULT", "dev1", a),
            "/DEFAULT/controller/v1/dev1/deploymentBase/5/feedback"
        );
        assert_eq!(
            cancel_action("t", "d", a),
            "/t/controller/v1/d/cancelAction/5"
        );
        assert_eq!(
            cancel_feedback("t", "d", a),
            "/t/controller/v1/d/cancelAction/5/feedback"
        );
        assert_eq!(
            installed_base("t", "d", a),
            "/t/controller/v1/d/installedBase/5"
        );
        assert_eq!(
            installed_base_report("t", "d"),
            "/t/controller/v1/d/installedBase"
        );
        assert_eq!(config_data("t", "d"), "/t/controller/v1/d/configData");
        assert_eq!(
            confirmation_base("t", "d"),
            "/t/controller/v1/d/confirmationBase"
        );
        assert_eq!(
            confirmation_base_action("t", "d", a, 3),
            "/t/controller/v1/d/confirmationBase/5?c=3"
        );
        assert_eq!(
            confirmation_feedback("t", "d", a),
            "/t/controller/v1/d/confirmationBase/5/feedback"
        );
        assert_eq!(
            activate_auto_confirm("t", "d"),
            "/t/controller/v1/d/confirmationBase/activateAutoConfirm"
        );
        assert_eq!(
            deactivate_auto_confirm("t", "d"),
            "/t/controller/v1/d/confirmationBase/deactivateAutoConfirm"
        );
        assert_eq!(
            artifacts("t", "d", 23),
            "/t/controller/v1/d/softwaremodules/23/artifacts"
        );
        assert_eq!(
            artifact("t", "d", 23, "binary.tgz"),
            "/t/controller/v1/d/softwaremodules/23/artifacts/binary.tgz"
        );
        assert_eq!(
            artifact_md5sum("t", "d", 23, "binary.tgz"),
            "/t/controller/v1/d/softwaremodules/23/artifacts/binary.tgz.MD5SUM"
        );
    }

    #[test]
    fn encodes_segments() {
        assert_eq!(
            controller_base("DEFAULT", "a/b?c d"),
            "/DEFAULT/controller/v1/a%2Fb%3Fc%20d"
        );
        assert_eq!(encode_segment("ä"), "%C3%A4");
        assert_eq!(encode_segment("A-z_0.9~"), "A-z_0.9~");
    }

    #[test]
    fn parses_deployment_hrefs() {
        assert_eq!(
            parse_deployment_href("https://h/T/controller/v1/C/deploymentBase/5?c=-2127183556"),
            Some((ActionId(5), Some(-2127183556)))
        );
        assert_eq!(
            parse_deployment_href("/T/controller/v1/C/deploymentBase/7"),
            Some((ActionId(7), None))
        );
        assert_eq!(
            parse_deployment_href("/T/controller/v1/C/cancelAction/7"),
            None
        );
        assert_eq!(
            parse_deployment_href("/T/controller/v1/C/deploymentBase/x?c=1"),
            None
        );
    }

    #[test]
    fn routes_match_builders() {
        // Substituting the captures in the templates yields what the builders produce.
        let fill = |t: &str| {
            t.replace("{tenant}", "T")
                .replace("{controller_id}", "C")
                .replace("{action_id}", "9")
                .replace("{module_id}", "4")
                .replace("{filename}", "f.bin")
        };
        let a = ActionId(9);
        assert_eq!(fill(route::CONTROLLER_BASE), controller_base("T", "C"));
        assert_eq!(fill(route::CONFIG_DATA), config_data("T", "C"));
        assert_eq!(
            fill(route::DEPLOYMENT_BASE) + "?c=1",
            deployment_base("T", "C", a, 1)
        );
        assert_eq!(
            fill(route::DEPLOYMENT_FEEDBACK),
            deployment_feedback("T", "C", a)
        );
        assert_eq!(fill(route::CANCEL_ACTION), cancel_action("T", "C", a));
        assert_eq!(fill(route::CANCEL_FEEDBACK), cancel_feedback("T", "C", a));
        assert_eq!(fill(route::INSTALLED_BASE), installed_base("T", "C", a));
        assert_eq!(
            fill(route::INSTALLED_BASE_REPORT),
            installed_base_report("T", "C")
        );
        assert_eq!(fill(route::CONFIRMATION_BASE), confirmation_base("T", "C"));
        assert_eq!(
            fill(route::CONFIRMATION_BASE_ACTION) + "?c=1",
            confirmation_base_action("T", "C", a, 1)
        );
        assert_eq!(
            fill(route::CONFIRMATION_FEEDBACK),
            confirmation_feedback("T", "C", a)
        );
        assert_eq!(
            fill(route::ACTIVATE_AUTO_CONFIRM),
            activate_auto_confirm("T", "C")
        );
        assert_eq!(
            fill(route::DEACTIVATE_AUTO_CONFIRM),
            deactivate_auto_confirm("T", "C")
        );
        assert_eq!(fill(route::DEVICE_CONFIG), device_config("T", "C"));
        assert_eq!(
            fill(route::DEVICE_CONFIG_APPLIED),
            device_config_applied("T", "C")
        );
        assert_eq!(fill(route::ARTIFACTS), artifacts("T", "C", 4));
        assert_eq!(fill(route::ARTIFACT), artifact("T", "C", 4, "f.bin"));
    }
}
