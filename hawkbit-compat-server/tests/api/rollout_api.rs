//! Target filters, tags, types, hardware compatibility and rollouts over the management API,
//! and a simulated fleet of DDI devices going through a rollout.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hawkbit_compat_server::rollout;
use hawkbit_compat_server::store::now_ms;
use ota_ddi::{ActionFeedback, ConfigData, ControllerBase, DeploymentBase, Execution, Finished};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};

/// Test server whose engine timer never fires after start-up: the tests tick by hand.
async fn app() -> TestApp {
    spawn_app_with(|c| c.rollout_interval = Duration::from_secs(3600)).await
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app.mgmt(method, path);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

async fn ok(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let (s, v) = send(app, method.clone(), path, body).await;
    assert!(s.is_success(), "{method} {path}: {s} {v}");
    v
}

fn ids(page: &Value) -> Vec<String> {
    page["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["controllerId"].as_str().unwrap().to_owned())
        .collect()
}

async fn with_attrs(app: &TestApp, id: &str, attrs: &[(&str, &str)]) -> String {
    let (t, token) = app.create_target(id).await;
    let data: BTreeMap<String, String> = attrs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    app.store
        .update_target_attributes(t.target_id, &ConfigData { data, mode: None })
        .await
        .unwrap();
    token
}

async fn new_ds(app: &TestApp, name: &str, hw: &[&str]) -> i64 {
    let v = ok(
        app,
        Method::POST,
        "/distributionsets",
        Some(json!([{"name": name, "version": "1.0", "hwRevisions": hw}])),
    )
    .await;
    v[0]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn targets_are_queried_and_filters_tags_and_types_are_managed() {
    let app = app().await;
    with_attrs(&app, "dev-a", &[("hw_revision", "rev-b")]).await;
    with_attrs(&app, "dev-b", &[("hw_revision", "rev-a")]).await;
    with_attrs(&app, "gw-1", &[]).await;

    let page = ok(
        &app,
        Method::GET,
        "/targets?q=attribute.hw_revision%3D%3Drev-b",
        None,
    )
    .await;
    assert_eq!(ids(&page), ["dev-a"]);
    assert_eq!(page["total"], 1);
    let page = ok(&app, Method::GET, "/targets?q=name%3D%3Ddev*&limit=1", None).await;
    assert_eq!((ids(&page).len(), page["total"].as_i64()), (1, Some(2)));
    let (s, err) = send(&app, Method::GET, "/targets?q=name%3Ddev", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let msg = err["message"].as_str().unwrap();
    assert!(msg.contains("position 4") && msg.contains("'=='"), "{msg}");

    // Tags, in both of hawkBit's body shapes.
    let tag = ok(
        &app,
        Method::POST,
        "/targettags",
        Some(json!([{"name": "canary"}])),
    )
    .await;
    let tag_id = tag[0]["id"].as_i64().unwrap();
    ok(
        &app,
        Method::POST,
        &format!("/targettags/{tag_id}/assigned"),
        Some(json!(["dev-a", {"controllerId": "gw-1"}])),
    )
    .await;
    let (s, _) = send(
        &app,
        Method::POST,
        &format!("/targettags/{tag_id}/assigned"),
        Some(json!(["nope"])),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let page = ok(&app, Method::GET, "/targets?q=tag%3D%3Dcanary", None).await;
    assert_eq!(ids(&page), ["dev-a", "gw-1"]);
    ok(
        &app,
        Method::DELETE,
        &format!("/targettags/{tag_id}/assigned/gw-1"),
        None,
    )
    .await;
    let tags = ok(&app, Method::GET, "/targets/dev-a/tags", None).await;
    assert_eq!(tags[0]["name"], "canary");
    let (s, _) = send(
        &app,
        Method::POST,
        "/targettags",
        Some(json!([{"name": "canary"}])),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Types and groups.
    let ty = ok(
        &app,
        Method::POST,
        "/targettypes",
        Some(json!([{"name": "gateway"}])),
    )
    .await;
    let ty_id = ty[0]["id"].as_i64().unwrap();
    ok(
        &app,
        Method::POST,
        "/targets/gw-1/targettype",
        Some(json!({"id": ty_id})),
    )
    .await;
    ok(
        &app,
        Method::PUT,
        "/targets/gw-1/group",
        Some(json!({"group": "hall 2"})),
    )
    .await;
    let page = ok(
        &app,
        Method::GET,
        "/targets?q=targettype%3D%3Dgateway%3Bgroup%3D%3D%27hall%202%27",
        None,
    )
    .await;
    assert_eq!(ids(&page), ["gw-1"]);

    // Saved filters.
    let (s, err) = send(
        &app,
        Method::POST,
        "/targetfilters",
        Some(json!({"name": "bad", "query": "attribute.hw_revision==rev-b;"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        err["message"].as_str().unwrap().contains("position 29"),
        "{err}"
    );
    let f = ok(
        &app,
        Method::POST,
        "/targetfilters",
        Some(json!({"name": "rev-b", "query": "attribute.hw_revision==rev-b"})),
    )
    .await;
    let fid = f["id"].as_i64().unwrap();
    let f = ok(
        &app,
        Method::PUT,
        &format!("/targetfilters/{fid}"),
        Some(json!({"query": "attribute.hw_revision=in=(rev-a,rev-b)"})),
    )
    .await;
    assert_eq!(f["name"], "rev-b");
    assert_eq!(
        ok(&app, Method::GET, "/targetfilters", None).await["total"],
        1
    );

    // Auto-assignment: every matching target gets the set now.
    let release = new_ds(&app, "release", &[]).await;
    let f = ok(
        &app,
        Method::POST,
        &format!("/targetfilters/{fid}/autoAssignDS"),
        Some(json!({"id": release, "type": "soft"})),
    )
    .await;
    assert_eq!(f["autoAssignDistributionSet"], release);
    for (id, n) in [("dev-a", 1), ("dev-b", 1), ("gw-1", 0)] {
        let acts = ok(&app, Method::GET, &format!("/targets/{id}/actions"), None).await;
        assert_eq!(acts["total"], n, "{id}");
    }
    // ... and a device that registers later gets it on its first poll.
    let r = app
        .client
        .get(app.ddi_url("late-1", ""))
        .header(
            "Authorization",
            format!("GatewayToken {}", crate::helpers::GATEWAY_TOKEN),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let base: ControllerBase = r.json().await.unwrap();
    assert!(
        base.links.deployment_base.is_none(),
        "no attributes yet, no match"
    );
    let cd = json!({"data": {"hw_revision": "rev-a"}});
    let r = app
        .client
        .put(app.ddi_url("late-1", "/configData"))
        .header(
            "Authorization",
            format!("GatewayToken {}", crate::helpers::GATEWAY_TOKEN),
        )
        .json(&cd)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let acts = ok(&app, Method::GET, "/targets/late-1/actions", None).await;
    assert_eq!(acts["total"], 1);
    assert_eq!(acts["content"][0]["type"], "soft");
    ok(
        &app,
        Method::DELETE,
        &format!("/targetfilters/{fid}/autoAssignDS"),
        None,
    )
    .await;
    ok(&app, Method::DELETE, &format!("/targetfilters/{fid}"), None).await;
}

#[tokio::test]
async fn incompatible_hardware_is_refused_with_a_clear_message() {
    let app = app().await;
    with_attrs(&app, "old-board", &[("hw_revision", "rev-a")]).await;
    with_attrs(&app, "new-board", &[("hw_revision", "rev-b")]).await;
    with_attrs(&app, "unknown-board", &[]).await;
    let ds = new_ds(&app, "fw", &["rev-b", "rev-c"]).await;
    assert_eq!(
        ok(
            &app,
            Method::GET,
            &format!("/distributionsets/{ds}/hwRevisions"),
            None
        )
        .await,
        json!(["rev-b", "rev-c"])
    );
    let (s, err) = send(
        &app,
        Method::POST,
        "/targets/old-board/assignedDS",
        Some(json!({"id": ds})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let msg = err["message"].as_str().unwrap();
    assert!(
        msg.contains("rev-b, rev-c") && msg.contains("old-board") && msg.contains("\"rev-a\""),
        "{msg}"
    );
    let (s, err) = send(
        &app,
        Method::POST,
        &format!("/distributionsets/{ds}/assignedTargets"),
        Some(json!([{"id": "new-board"}, {"id": "unknown-board"}])),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("has not reported"),
        "{err}"
    );
    // Nothing was assigned, not even to the compatible target listed first.
    let acts = ok(&app, Method::GET, "/targets/new-board/actions", None).await;
    assert_eq!(acts["total"], 0);
    ok(
        &app,
        Method::POST,
        "/targets/new-board/assignedDS",
        Some(json!({"id": ds})),
    )
    .await;
    ok(
        &app,
        Method::PUT,
        &format!("/distributionsets/{ds}/hwRevisions"),
        Some(json!([])),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/targets/old-board/assignedDS",
        Some(json!({"id": ds})),
    )
    .await;
}

/// RAUC variants restrict a set like hardware revisions do, against the `variant` attribute the
/// agent reports, in direct assignments and in rollouts; both kinds must fit when both are set.
#[tokio::test]
async fn rauc_variants_restrict_assignments_and_rollouts() {
    let app = app().await;
    with_attrs(
        &app,
        "v-b",
        &[("hw_revision", "rev-b"), ("variant", "imx8-b")],
    )
    .await;
    with_attrs(
        &app,
        "v-c",
        &[("hw_revision", "rev-b"), ("variant", "imx8-c")],
    )
    .await;
    with_attrs(&app, "v-none", &[("hw_revision", "rev-b")]).await;
    let ds = new_ds(&app, "fw-variants", &["rev-b"]).await;
    let v = ok(
        &app,
        Method::PUT,
        &format!("/distributionsets/{ds}/variants"),
        Some(json!(["imx8-b"])),
    )
    .await;
    assert_eq!(v, json!(["imx8-b"]));
    let (s, err) = send(
        &app,
        Method::POST,
        "/targets/v-c/assignedDS",
        Some(json!({"id": ds})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let msg = err["message"].as_str().unwrap();
    assert!(
        msg.contains("RAUC variants [imx8-b]") && msg.contains("reports variant \"imx8-c\""),
        "{msg}"
    );
    let (s, err) = send(
        &app,
        Method::POST,
        "/targets/v-none/assignedDS",
        Some(json!({"id": ds})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["message"]
        .as_str()
        .unwrap()
        .contains("has not reported a variant"));
    ok(
        &app,
        Method::POST,
        "/targets/v-b/assignedDS",
        Some(json!({"id": ds})),
    )
    .await;

    // A rollout over all three assigns only the fitting one and counts the others.
    let ds2 = new_ds(&app, "fw-variants-2", &[]).await;
    ok(
        &app,
        Method::PUT,
        &format!("/distributionsets/{ds2}/variants"),
        Some(json!(["imx8-c"])),
    )
    .await;
    let r = ok(
        &app,
        Method::POST,
        "/rollouts",
        Some(
            json!({"name": "variants", "targetFilterQuery": "controllerid==v-*",
                    "distributionSetId": ds2, "amountGroups": 1}),
        ),
    )
    .await;
    let id = r["id"].as_i64().unwrap();
    ok(&app, Method::POST, &format!("/rollouts/{id}/start"), None).await;
    let groups = ok(
        &app,
        Method::GET,
        &format!("/rollouts/{id}/deploygroups"),
        None,
    )
    .await;
    let g = &groups["content"][0]["totalTargetsPerStatus"];
    assert_eq!(
        (g["notcompatible"].as_i64(), g["running"].as_i64()),
        (Some(2), Some(1)),
        "{g}"
    );
    let acts = ok(&app, Method::GET, "/targets/v-c/actions", None).await;
    assert_eq!(acts["content"][0]["distributionSetId"], ds2);
}

#[tokio::test]
async fn rollout_life_cycle_over_the_management_api() {
    let app = spawn_app_with(|c| {
        c.rollout_interval = Duration::from_secs(3600);
        c.rollout_approval = true;
    })
    .await;
    for i in 0..10 {
        with_attrs(&app, &format!("r{i}"), &[("hw_revision", "rev-b")]).await;
    }
    let ds = new_ds(&app, "rel", &[]).await;
    let body = json!({
        "name": "spring",
        "targetFilterQuery": "name==r*",
        "distributionSetId": ds,
        "type": "timeforced",
        "forcetime": now_ms() + 3_600_000,
        "groups": [
            {"name": "canary", "targetFilterQuery": "controllerid=in=(r0,r1)", "targetPercentage": 100},
            {"name": "rest", "targetPercentage": 100,
             "successCondition": {"condition": "THRESHOLD", "expression": "50"},
             "errorCondition": {"condition": "THRESHOLD", "expression": "30"}}
        ],
        "successCondition": {"condition": "THRESHOLD", "expression": "100"}
    });
    let (s, r) = send(&app, Method::POST, "/rollouts", Some(body.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_i64().unwrap();
    assert_eq!(r["status"], "WAITING_FOR_APPROVAL");
    assert_eq!(r["totalTargets"], 10);
    assert_eq!(r["totalGroups"], 2);
    assert_eq!(r["totalTargetsPerStatus"]["notstarted"], 10);
    let (s, _) = send(&app, Method::POST, "/rollouts", Some(body)).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, e) = send(&app, Method::POST, &format!("/rollouts/{id}/start"), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("WAITING_FOR_APPROVAL"));
    ok(
        &app,
        Method::POST,
        &format!("/rollouts/{id}/approve?remark=fine"),
        None,
    )
    .await;
    ok(&app, Method::POST, &format!("/rollouts/{id}/start"), None).await;
    let r = ok(&app, Method::GET, &format!("/rollouts/{id}"), None).await;
    assert_eq!(r["status"], "RUNNING");
    assert_eq!(r["approvalRemark"], "fine");
    assert_eq!(r["totalTargetsPerStatus"]["running"], 2);
    assert_eq!(r["totalTargetsPerStatus"]["scheduled"], 8);
    let groups = ok(
        &app,
        Method::GET,
        &format!("/rollouts/{id}/deploygroups"),
        None,
    )
    .await;
    let g0 = &groups["content"][0];
    assert_eq!(g0["name"], "canary");
    assert_eq!(g0["status"], "RUNNING");
    assert_eq!(g0["successCondition"]["expression"], "100");
    assert_eq!(groups["content"][1]["errorCondition"]["expression"], "30");
    let g0_id = g0["id"].as_i64().unwrap();
    let members = ok(
        &app,
        Method::GET,
        &format!("/rollouts/{id}/deploygroups/{g0_id}/targets"),
        None,
    )
    .await;
    assert_eq!(ids(&members), ["r0", "r1"]);
    // Time-forced before its time: the device sees a soft update.
    let token = "token-of-r0";
    let base = app.poll_ok("r0", token).await;
    let href = base["_links"]["deploymentBase"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let dep: DeploymentBase = app
        .ddi(Method::GET, &href, token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(dep.deployment.update).unwrap(),
        json!("attempt")
    );

    ok(&app, Method::POST, &format!("/rollouts/{id}/pause"), None).await;
    let (s, _) = send(&app, Method::POST, &format!("/rollouts/{id}/pause"), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    ok(&app, Method::POST, &format!("/rollouts/{id}/resume"), None).await;
    ok(
        &app,
        Method::POST,
        &format!("/rollouts/{id}/triggerNextGroup"),
        None,
    )
    .await;
    let r = ok(&app, Method::GET, &format!("/rollouts/{id}"), None).await;
    assert_eq!(r["totalTargetsPerStatus"]["running"], 10);
    let (s, _) = send(
        &app,
        Method::POST,
        &format!("/rollouts/{id}/triggerNextGroup"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    ok(&app, Method::POST, &format!("/rollouts/{id}/stop"), None).await;
    let r = ok(&app, Method::GET, &format!("/rollouts/{id}"), None).await;
    assert_eq!(r["status"], "STOPPED");
    assert_eq!(ok(&app, Method::GET, "/rollouts", None).await["total"], 1);
    ok(&app, Method::DELETE, &format!("/rollouts/{id}"), None).await;
    let (s, _) = send(&app, Method::GET, &format!("/rollouts/{id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Validation.
    for bad in [
        json!({"name": "x", "targetFilterQuery": "name=x", "distributionSetId": ds, "amountGroups": 2}),
        json!({"name": "x", "targetFilterQuery": "name==x", "distributionSetId": ds}),
        json!({"name": "x", "targetFilterQuery": "name==x", "distributionSetId": ds, "amountGroups": 0}),
        json!({"name": "x", "targetFilterQuery": "name==x", "distributionSetId": 999, "amountGroups": 1}),
        json!({"name": "x", "targetFilterQuery": "name==x", "distributionSetId": ds, "amountGroups": 1,
               "errorCondition": {"condition": "THRESHOLD", "expression": "150"}}),
        json!({"name": "x", "targetFilterQuery": "name==x", "distributionSetId": ds, "amountGroups": 1,
               "type": "timeforced"}),
    ] {
        let (s, e) = send(&app, Method::POST, "/rollouts", Some(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad} -> {e}");
    }
}

/// SplitMix64: a small seeded generator, so the fleet behaves the same on every run.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn chance(&mut self, p: f64) -> bool {
        #[allow(clippy::cast_precision_loss)]
        let x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        x < p
    }
}

/// One simulated device: a DDI client that reports its attributes when asked and installs
/// whatever it is given, failing if it was born to fail.
struct Device {
    id: String,
    token: String,
    fails: bool,
    deployments_seen: usize,
}

impl Device {
    async fn poll_once(&mut self, app: &TestApp) {
        let base: ControllerBase = app
            .ddi(Method::GET, &app.ddi_url(&self.id, ""), &self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(link) = base.links.deployment_base {
            self.deployments_seen += 1;
            let dep: DeploymentBase = app
                .ddi(Method::GET, &link.href, &self.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let finished = if self.fails {
                Finished::Failure
            } else {
                Finished::Success
            };
            let fb = ActionFeedback::new(Execution::Closed, finished, vec!["simulated".into()]);
            let url = app.ddi_url(&self.id, &format!("/deploymentBase/{}/feedback", dep.id));
            let r = app
                .post_json(&url, &self.token, &serde_json::to_value(&fb).unwrap())
                .await;
            assert_eq!(r.status(), 200, "{}", self.id);
        }
    }
}

#[tokio::test]
async fn simulated_fleet_rollout_pauses_at_the_group_that_exceeds_the_error_threshold() {
    let app = app().await;
    let mut rng = Rng(0x5EED_2026);
    let mut fleet = Vec::new();
    let mut in_filter = BTreeSet::new();
    // 200 devices in the filter; devices 100..140 are a bad batch that fails half the time.
    // 30 devices of another hardware revision and 10 development devices must never get an
    // action.
    for i in 0..240 {
        let id = format!("sim-{i:03}");
        let (hw, dev) = match i {
            0..200 => ("rev-b", false),
            200..230 => ("rev-a", false),
            _ => ("rev-b", true),
        };
        let mut attrs = vec![("hw_revision", hw)];
        if dev {
            attrs.push(("development", "true"));
        }
        let token = with_attrs(&app, &id, &attrs).await;
        if i < 200 {
            in_filter.insert(id.clone());
        }
        let p = if (100..140).contains(&i) { 0.5 } else { 0.01 };
        fleet.push(Device {
            id,
            token,
            fails: rng.chance(p),
            deployments_seen: 0,
        });
    }
    let ds = new_ds(&app, "fleet-release", &["rev-b"]).await;
    let r = ok(
        &app,
        Method::POST,
        "/rollouts",
        Some(json!({
            "name": "fleet",
            "targetFilterQuery": "attribute.hw_revision==rev-b",
            "distributionSetId": ds,
            "amountGroups": 5,
            "successCondition": {"condition": "THRESHOLD", "expression": "90"},
            "errorCondition": {"condition": "THRESHOLD", "expression": "10"},
            "errorAction": {"action": "PAUSE"}
        })),
    )
    .await;
    let id = r["id"].as_i64().unwrap();
    assert_eq!(r["totalTargets"], 200);

    // Which group should stop the rollout, from the real membership and the fleet's fate.
    let groups = ok(
        &app,
        Method::GET,
        &format!("/rollouts/{id}/deploygroups"),
        None,
    )
    .await;
    let fails: BTreeMap<String, bool> = fleet.iter().map(|d| (d.id.clone(), d.fails)).collect();
    let mut members = Vec::new();
    for g in groups["content"].as_array().unwrap() {
        let gid = g["id"].as_i64().unwrap();
        let page = ok(
            &app,
            Method::GET,
            &format!("/rollouts/{id}/deploygroups/{gid}/targets?limit=500"),
            None,
        )
        .await;
        members.push(ids(&page));
    }
    let expected = members
        .iter()
        .position(|m| m.iter().filter(|c| fails[c.as_str()]).count() * 100 > 10 * m.len())
        .expect("the seed puts failures above the threshold in some group");
    assert!(expected > 0, "the first group should pass");

    ok(&app, Method::POST, &format!("/rollouts/{id}/start"), None).await;
    let mut final_status = String::new();
    for _round in 0..20 {
        for chunk in fleet.chunks_mut(40) {
            futures_util::future::join_all(chunk.iter_mut().map(|d| d.poll_once(&app))).await;
        }
        rollout::tick(&app.store, now_ms()).await.unwrap();
        let r = ok(&app, Method::GET, &format!("/rollouts/{id}"), None).await;
        final_status = r["status"].as_str().unwrap().to_owned();
        if final_status != "RUNNING" {
            break;
        }
    }
    assert_eq!(final_status, "PAUSED");
    let groups = ok(
        &app,
        Method::GET,
        &format!("/rollouts/{id}/deploygroups"),
        None,
    )
    .await;
    let statuses: Vec<&str> = groups["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["status"].as_str().unwrap())
        .collect();
    for (i, s) in statuses.iter().enumerate() {
        let want = match i.cmp(&expected) {
            std::cmp::Ordering::Less => "FINISHED",
            std::cmp::Ordering::Equal => "ERROR",
            std::cmp::Ordering::Greater => "SCHEDULED",
        };
        assert_eq!(
            *s, want,
            "group {i} of {statuses:?}, expected pause at {expected}"
        );
    }
    // Counters agree with what the devices did.
    let r = ok(&app, Method::GET, &format!("/rollouts/{id}"), None).await;
    let started: Vec<&String> = members[..=expected].iter().flatten().collect();
    let failed = started.iter().filter(|c| fails[c.as_str()]).count();
    let per = &r["totalTargetsPerStatus"];
    assert_eq!(per["error"].as_u64().unwrap() as usize, failed);
    assert_eq!(
        per["finished"].as_u64().unwrap() as usize,
        started.len() - failed
    );
    assert_eq!(
        per["scheduled"].as_u64().unwrap() as usize,
        200 - started.len()
    );
    // No device outside the filter, and no device of a later group, ever got an action.
    let started: BTreeSet<&str> = started.iter().map(|s| s.as_str()).collect();
    for d in &fleet {
        let acts = ok(
            &app,
            Method::GET,
            &format!("/targets/{}/actions", d.id),
            None,
        )
        .await;
        let n = acts["total"].as_u64().unwrap();
        if started.contains(d.id.as_str()) {
            assert_eq!((n, d.deployments_seen), (1, 1), "{}", d.id);
        } else {
            assert_eq!(
                (n, d.deployments_seen),
                (0, 0),
                "{} (in filter: {})",
                d.id,
                in_filter.contains(&d.id)
            );
        }
    }
}
