//! Target filters, rollouts, auto-assignment and device configuration at the store and engine
//! level. Every test runs on SQLite and on PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};

use hawkbit_compat_server::rollout::{self, fiql, Command};
use hawkbit_compat_server::secret::Secret;
use hawkbit_compat_server::store::{
    ActionState, ActionType, ConfigScope, ConfigSource, ConfigValue, ErrorAction, GroupStatus,
    HistoryStatus, NewDistributionSet, NewRollout, NewRolloutGroup, NewStatusEntry, NewTarget,
    RolloutStatus, Store, SuccessAction, Target,
};
use ota_ddi::ConfigData;

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (store, _dir) = $crate::helpers::sqlite_store().await;
                    super::$name(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let store = $crate::helpers::postgres_store().await;
                    super::$name(store).await;
                }
            )*
        }
    };
}

both_backends!(
    filter_queries_select_the_right_targets,
    rollout_splits_groups_skips_development_and_incompatible_targets,
    error_threshold_pauses_the_rollout_at_the_failing_group,
    a_group_below_its_success_condition_waits_for_the_operator,
    operator_commands_follow_the_state_machine,
    auto_assignment_covers_present_and_future_targets,
    configuration_merges_with_precedence_and_versions,
);

pub async fn target(store: &Store, id: &str, attrs: &[(&str, &str)]) -> Target {
    let t = store
        .create_target(&NewTarget {
            controller_id: id.into(),
            name: id.into(),
            description: String::new(),
            security_token: Secret::new(format!("token-of-{id}")),
        })
        .await
        .unwrap();
    if !attrs.is_empty() {
        set_attrs(store, t.target_id, attrs).await;
    }
    t
}

pub async fn set_attrs(store: &Store, target_id: i64, attrs: &[(&str, &str)]) {
    let data: BTreeMap<String, String> = attrs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    store
        .update_target_attributes(target_id, &ConfigData { data, mode: None })
        .await
        .unwrap();
}

pub async fn ds(store: &Store, name: &str, version: &str) -> i64 {
    store
        .create_distribution_set(&NewDistributionSet {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            module_ids: vec![],
        })
        .await
        .unwrap()
        .distribution_set_id
}

pub async fn close(store: &Store, action_id: i64, ok: bool) {
    let (state, status) = if ok {
        (ActionState::Finished, HistoryStatus::Finished)
    } else {
        (ActionState::Error, HistoryStatus::Error)
    };
    store
        .record_action_status(
            action_id,
            Some(state),
            &NewStatusEntry {
                status,
                code: None,
                messages: vec![],
                occurred_at: 1,
            },
        )
        .await
        .unwrap();
}

async fn matching(store: &Store, q: &str) -> Vec<String> {
    let node = fiql::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let (targets, total) = store.list_targets_matching(&node, 0, 500).await.unwrap();
    assert_eq!(total, i64::try_from(targets.len()).unwrap(), "{q}");
    targets.into_iter().map(|t| t.controller_id).collect()
}

async fn filter_queries_select_the_right_targets(store: Store) {
    let a1 = target(&store, "a1", &[("hw_revision", "rev-b"), ("region", "eu")]).await;
    let a2 = target(&store, "a2", &[("hw_revision", "rev-a")]).await;
    let b1 = target(&store, "b1", &[("hw_revision", "rev-b")]).await;
    let b2 = target(&store, "b2", &[]).await;
    store
        .set_target_group(b2.target_id, Some("line 1"))
        .await
        .unwrap();
    let ty = store.create_target_type("gateway", "").await.unwrap();
    store
        .set_target_type(b2.target_id, Some(ty.target_type_id))
        .await
        .unwrap();
    let tag = store.create_target_tag("canary", "", "").await.unwrap();
    store
        .tag_target(tag.target_tag_id, b1.target_id)
        .await
        .unwrap();
    let v1 = ds(&store, "os", "1.0").await;
    let v2 = ds(&store, "os", "2.0").await;
    let act = store
        .assign(a1.target_id, v1, ActionType::Forced)
        .await
        .unwrap();
    close(&store, act.action_id, true).await;
    let act = store
        .assign(a2.target_id, v1, ActionType::Forced)
        .await
        .unwrap();
    close(&store, act.action_id, false).await;
    store
        .assign(b1.target_id, v2, ActionType::Soft)
        .await
        .unwrap();
    store.touch_target(a1.target_id, 5).await.unwrap();

    let cases: &[(&str, &[&str])] = &[
        ("name==a*", &["a1", "a2"]),
        ("name==A1", &["a1"]),
        ("attribute.hw_revision==rev-b", &["a1", "b1"]),
        ("attribute.hw_revision!=rev-b", &["a2", "b2"]),
        (
            "attribute.hw_revision==rev-b;updatestatus==in_sync",
            &["a1"],
        ),
        ("updatestatus==error", &["a2"]),
        ("updatestatus==pending", &["b1"]),
        ("updatestatus=in=(unknown,registered)", &["b2"]),
        ("tag==canary", &["b1"]),
        ("tag!=canary", &["a1", "a2", "b2"]),
        ("targettype==gateway", &["b2"]),
        ("group=='line 1'", &["b2"]),
        ("controllerid=in=(a1,b2)", &["a1", "b2"]),
        ("controllerid=out=(a1,b2)", &["a2", "b1"]),
        ("installedds.version==1.0", &["a1"]),
        ("assignedds.version==2.*", &["b1"]),
        (
            "assignedds.name==os;installedds.version!=1.0",
            &["a2", "b1"],
        ),
        (
            "(name==b*,attribute.region==eu);controllerid!=b2",
            &["a1", "b1"],
        ),
        ("name==\"x' OR '1'='1\"", &[]),
        ("name==a_", &[]),
        ("attribute.region==*", &["a1"]),
    ];
    for (q, want) in cases {
        assert_eq!(matching(&store, q).await, *want, "query {q}");
    }
    assert!(store
        .target_matches(a1.target_id, &fiql::parse("attribute.region==EU").unwrap())
        .await
        .unwrap());
}

fn groups(n: usize, success: i64, error: Option<i64>) -> Vec<NewRolloutGroup> {
    (0..n)
        .map(|i| NewRolloutGroup {
            name: format!("g{i}"),
            description: String::new(),
            target_filter_query: String::new(),
            #[allow(clippy::cast_precision_loss)]
            target_percentage: 100.0 / (n - i) as f64,
            success_threshold: success,
            success_action: SuccessAction::NextGroup,
            error_threshold: error,
            error_action: ErrorAction::Pause,
        })
        .collect()
}

pub fn new_rollout(name: &str, q: &str, ds: i64, groups: Vec<NewRolloutGroup>) -> NewRollout {
    NewRollout {
        name: name.into(),
        description: String::new(),
        target_filter_query: q.into(),
        distribution_set_id: ds,
        action_type: ActionType::Forced,
        forced_time: None,
        start_at: None,
        approval_required: false,
        created_by: "test".into(),
        groups,
    }
}

/// Controller ids per group, in group order.
async fn members(store: &Store, rollout_id: i64) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for g in store.rollout_groups(rollout_id).await.unwrap() {
        let (ts, _) = store
            .rollout_group_targets(g.rollout_group_id, 0, 500)
            .await
            .unwrap();
        out.push(ts.into_iter().map(|t| t.controller_id).collect());
    }
    out
}

/// Closes every open action the rollout created; `fail` decides per controller id.
async fn finish_running(store: &Store, rollout_id: i64, fail: impl Fn(&str) -> bool) -> usize {
    let mut n = 0;
    for g in store.rollout_groups(rollout_id).await.unwrap() {
        let (ts, _) = store
            .rollout_group_targets(g.rollout_group_id, 0, 500)
            .await
            .unwrap();
        for t in ts {
            if let (Some(a), Some("running")) = (t.action_id, t.action_status.as_deref()) {
                close(store, a, !fail(&t.controller_id)).await;
                n += 1;
            }
        }
    }
    n
}

async fn status(store: &Store, id: i64) -> RolloutStatus {
    store.rollout(id).await.unwrap().unwrap().status
}

async fn rollout_splits_groups_skips_development_and_incompatible_targets(store: Store) {
    let mut ids = BTreeMap::new();
    for i in 0..20 {
        let id = format!("t{i:02}");
        let hw = if (16..18).contains(&i) {
            "rev-a"
        } else {
            "rev-b"
        };
        let t = target(&store, &id, &[("hw_revision", hw)]).await;
        ids.insert(id, t.target_id);
    }
    set_attrs(&store, ids["t18"], &[("development", "true")]).await;
    let dev = store
        .create_target_tag("development", "", "")
        .await
        .unwrap();
    store
        .tag_target(dev.target_tag_id, ids["t19"])
        .await
        .unwrap();
    let release = ds(&store, "os", "3.0").await;
    store
        .set_ds_hw_revisions(release, &["rev-b".into()])
        .await
        .unwrap();

    let r = store
        .create_rollout(
            &new_rollout("r1", "controllerid==t*", release, groups(4, 100, None)),
            10,
        )
        .await
        .unwrap();
    rollout::tick(&store, 11).await.unwrap();
    assert_eq!(status(&store, r.rollout_id).await, RolloutStatus::Ready);
    let m = members(&store, r.rollout_id).await;
    let sizes: Vec<usize> = m.iter().map(Vec::len).collect();
    assert_eq!(sizes, [5, 5, 4, 4]);
    assert_eq!(m[0], ["t00", "t01", "t02", "t03", "t04"]);
    assert_eq!(m[3], ["t14", "t15", "t16", "t17"]);
    assert_eq!(
        store
            .rollout(r.rollout_id)
            .await
            .unwrap()
            .unwrap()
            .total_targets,
        18
    );

    rollout::command(&store, r.rollout_id, Command::Start, None, 12)
        .await
        .unwrap();
    let mut now = 13;
    for _ in 0..20 {
        rollout::tick(&store, now).await.unwrap();
        now += 1;
        if status(&store, r.rollout_id).await == RolloutStatus::Finished {
            break;
        }
        finish_running(&store, r.rollout_id, |_| false).await;
    }
    assert_eq!(status(&store, r.rollout_id).await, RolloutStatus::Finished);
    let gs = store.rollout_groups(r.rollout_id).await.unwrap();
    assert!(
        gs.iter().all(|g| g.status == GroupStatus::Finished),
        "{gs:?}"
    );
    let last = store.rollout_group_counts(&gs[3]).await.unwrap();
    assert_eq!((last.finished, last.notcompatible), (2, 2));
    for dev in ["t16", "t17", "t18", "t19"] {
        assert!(
            store.actions_of_target(ids[dev]).await.unwrap().is_empty(),
            "{dev} got an action"
        );
    }
    assert_eq!(store.actions_of_target(ids["t00"]).await.unwrap().len(), 1);

    // Named explicitly, development devices take part.
    let r2 = store
        .create_rollout(
            &new_rollout(
                "r2",
                "controllerid=in=(t18,t05)",
                release,
                groups(1, 100, None),
            ),
            now,
        )
        .await
        .unwrap();
    let r3 = store
        .create_rollout(
            &new_rollout("r3", "tag==development", release, groups(1, 100, None)),
            now,
        )
        .await
        .unwrap();
    rollout::tick(&store, now + 1).await.unwrap();
    assert_eq!(members(&store, r2.rollout_id).await, [vec!["t05", "t18"]]);
    assert_eq!(members(&store, r3.rollout_id).await, [vec!["t19"]]);
}

async fn error_threshold_pauses_the_rollout_at_the_failing_group(store: Store) {
    for i in 0..15 {
        target(&store, &format!("d{i:02}"), &[]).await;
    }
    let release = ds(&store, "os", "4.0").await;
    let r = store
        .create_rollout(
            &new_rollout("r", "name==d*", release, groups(3, 60, Some(20))),
            1,
        )
        .await
        .unwrap();
    rollout::tick(&store, 2).await.unwrap();
    rollout::command(&store, r.rollout_id, Command::Start, None, 3)
        .await
        .unwrap();
    rollout::tick(&store, 4).await.unwrap();
    // Group 1 (d00-d04): one failure of five is 20 %, not above the threshold.
    finish_running(&store, r.rollout_id, |c| c == "d00").await;
    rollout::tick(&store, 5).await.unwrap();
    assert_eq!(status(&store, r.rollout_id).await, RolloutStatus::Running);
    // Group 2 (d05-d09): two failures are 40 %: emergency stop.
    finish_running(&store, r.rollout_id, |c| c == "d05" || c == "d06").await;
    rollout::tick(&store, 6).await.unwrap();
    assert_eq!(status(&store, r.rollout_id).await, RolloutStatus::Paused);
    let gs = store.rollout_groups(r.rollout_id).await.unwrap();
    let st: Vec<GroupStatus> = gs.iter().map(|g| g.status).collect();
    assert_eq!(
        st,
        [
            GroupStatus::Finished,
            GroupStatus::Error,
            GroupStatus::Scheduled
        ]
    );
    let c = store.rollout_group_counts(&gs[2]).await.unwrap();
    assert_eq!((c.scheduled, c.running), (5, 0));
    // Paused: ticks change nothing.
    rollout::tick(&store, 7).await.unwrap();
    assert_eq!(
        store.rollout_groups(r.rollout_id).await.unwrap()[2].status,
        GroupStatus::Scheduled
    );
    // Resuming continues with the next group.
    rollout::command(&store, r.rollout_id, Command::Resume, None, 8)
        .await
        .unwrap();
    rollout::tick(&store, 9).await.unwrap();
    let gs = store.rollout_groups(r.rollout_id).await.unwrap();
    assert_eq!(gs[2].status, GroupStatus::Running);
    finish_running(&store, r.rollout_id, |_| false).await;
    rollout::tick(&store, 10).await.unwrap();
    assert_eq!(status(&store, r.rollout_id).await, RolloutStatus::Finished);
}

/// hawkBit's rule: a group whose actions all closed below its success condition (and below
/// its error condition) is finished, the next group is not started, and the rollout keeps
/// running until the operator triggers the next group.
async fn a_group_below_its_success_condition_waits_for_the_operator(store: Store) {
    for i in 0..10 {
        target(&store, &format!("s{i}"), &[]).await;
    }
    let release = ds(&store, "os", "4.1").await;
    let r = store
        .create_rollout(
            &new_rollout("r", "name==s*", release, groups(2, 100, Some(50))),
            1,
        )
        .await
        .unwrap();
    rollout::tick(&store, 2).await.unwrap();
    rollout::command(&store, r.rollout_id, Command::Start, None, 3)
        .await
        .unwrap();
    rollout::tick(&store, 4).await.unwrap();
    // One failure of five: 80 % installed (success needs 100 %), 20 % failed (error needs
    // more than 50 %).
    finish_running(&store, r.rollout_id, |c| c == "s0").await;
    for now in 5..8 {
        rollout::tick(&store, now).await.unwrap();
    }
    let gs = store.rollout_groups(r.rollout_id).await.unwrap();
    let st: Vec<GroupStatus> = gs.iter().map(|g| g.status).collect();
    assert_eq!(st, [GroupStatus::Finished, GroupStatus::Scheduled]);
    assert_eq!(status(&store, r.rollout_id).await, RolloutStatus::Running);
    rollout::command(&store, r.rollout_id, Command::TriggerNextGroup, None, 8)
        .await
        .unwrap();
    rollout::tick(&store, 9).await.unwrap();
    assert_eq!(
        store.rollout_groups(r.rollout_id).await.unwrap()[1].status,
        GroupStatus::Running
    );
    finish_running(&store, r.rollout_id, |_| false).await;
    rollout::tick(&store, 10).await.unwrap();
    assert_eq!(status(&store, r.rollout_id).await, RolloutStatus::Finished);
}

async fn operator_commands_follow_the_state_machine(store: Store) {
    for i in 0..6 {
        target(&store, &format!("o{i}"), &[]).await;
    }
    let release = ds(&store, "os", "5.0").await;
    let mut new = new_rollout("approved", "name==o*", release, groups(3, 100, None));
    new.approval_required = true;
    let r = store.create_rollout(&new, 1).await.unwrap();
    rollout::tick(&store, 2).await.unwrap();
    assert_eq!(
        status(&store, r.rollout_id).await,
        RolloutStatus::WaitingForApproval
    );
    let err = rollout::command(&store, r.rollout_id, Command::Start, None, 3)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("WAITING_FOR_APPROVAL"), "{err}");
    rollout::command(&store, r.rollout_id, Command::Approve, Some("ok by QA"), 3)
        .await
        .unwrap();
    let got = store.rollout(r.rollout_id).await.unwrap().unwrap();
    assert_eq!(got.status, RolloutStatus::Ready);
    assert_eq!(got.approval_remark.as_deref(), Some("ok by QA"));
    rollout::command(&store, r.rollout_id, Command::Start, None, 4)
        .await
        .unwrap();
    rollout::tick(&store, 5).await.unwrap();
    rollout::command(&store, r.rollout_id, Command::Pause, None, 6)
        .await
        .unwrap();
    assert!(
        rollout::command(&store, r.rollout_id, Command::Pause, None, 6)
            .await
            .is_err()
    );
    assert!(
        rollout::command(&store, r.rollout_id, Command::TriggerNextGroup, None, 6)
            .await
            .is_err()
    );
    rollout::command(&store, r.rollout_id, Command::Resume, None, 7)
        .await
        .unwrap();
    // Group 2 starts without group 1 meeting its success condition.
    rollout::command(&store, r.rollout_id, Command::TriggerNextGroup, None, 8)
        .await
        .unwrap();
    let st: Vec<GroupStatus> = store
        .rollout_groups(r.rollout_id)
        .await
        .unwrap()
        .iter()
        .map(|g| g.status)
        .collect();
    assert_eq!(
        st,
        [
            GroupStatus::Running,
            GroupStatus::Running,
            GroupStatus::Scheduled
        ]
    );
    rollout::command(&store, r.rollout_id, Command::Stop, None, 9)
        .await
        .unwrap();
    assert_eq!(status(&store, r.rollout_id).await, RolloutStatus::Stopped);
    // Stopping asked the four open actions to cancel; the third group never started.
    let mut canceling = 0;
    for t in store.list_targets(0, 50).await.unwrap().0 {
        for a in store.actions_of_target(t.target_id).await.unwrap() {
            assert_eq!(a.state, ActionState::Canceling);
            canceling += 1;
        }
    }
    assert_eq!(canceling, 4);

    let denied = store
        .create_rollout(
            &NewRollout {
                approval_required: true,
                ..new_rollout("denied", "name==o*", release, groups(1, 100, None))
            },
            10,
        )
        .await
        .unwrap();
    rollout::tick(&store, 11).await.unwrap();
    rollout::command(&store, denied.rollout_id, Command::Deny, None, 12)
        .await
        .unwrap();
    assert_eq!(
        status(&store, denied.rollout_id).await,
        RolloutStatus::ApprovalDenied
    );
    // Never started: deleting removes it.
    rollout::delete(&store, denied.rollout_id, 13)
        .await
        .unwrap();
    assert!(store.rollout(denied.rollout_id).await.unwrap().is_none());
    // Started: deleting keeps it (and its actions) as `deleted`.
    rollout::delete(&store, r.rollout_id, 14).await.unwrap();
    assert_eq!(status(&store, r.rollout_id).await, RolloutStatus::Deleted);
    assert_eq!(store.list_rollouts(0, 50).await.unwrap().1, 0);

    // startAt starts a ready rollout by itself.
    let mut timed = new_rollout("timed", "name==o*", release, groups(1, 100, None));
    timed.start_at = Some(100);
    let t = store.create_rollout(&timed, 15).await.unwrap();
    rollout::tick(&store, 50).await.unwrap();
    assert_eq!(status(&store, t.rollout_id).await, RolloutStatus::Ready);
    rollout::tick(&store, 100).await.unwrap();
    assert_eq!(status(&store, t.rollout_id).await, RolloutStatus::Running);
}

async fn auto_assignment_covers_present_and_future_targets(store: Store) {
    let t1 = target(&store, "x1", &[("hw_revision", "rev-b")]).await;
    let t2 = target(&store, "x2", &[("hw_revision", "rev-a")]).await;
    let t3 = target(
        &store,
        "x3",
        &[("hw_revision", "rev-b"), ("development", "true")],
    )
    .await;
    let release = ds(&store, "os", "6.0").await;
    let f = store
        .create_target_filter("rev-b", "attribute.hw_revision==rev-b")
        .await
        .unwrap();
    store
        .set_auto_assign(f.target_filter_id, Some((release, ActionType::Soft)))
        .await
        .unwrap();
    let report = rollout::tick(&store, 1).await.unwrap();
    assert_eq!(report.auto_assigned, 1);
    let a = store.actions_of_target(t1.target_id).await.unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].action_type, ActionType::Soft);
    assert!(store
        .actions_of_target(t2.target_id)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .actions_of_target(t3.target_id)
        .await
        .unwrap()
        .is_empty());
    // A device that shows up later gets the current release.
    let t4 = target(&store, "x4", &[("hw_revision", "rev-b")]).await;
    assert_eq!(
        rollout::auto_assign_target(&store, t4.target_id, 2)
            .await
            .unwrap(),
        1
    );
    // Idempotent, also after the device installed it.
    close(&store, a[0].action_id, true).await;
    assert_eq!(rollout::tick(&store, 3).await.unwrap().auto_assigned, 0);
    assert_eq!(
        store.actions_of_target(t1.target_id).await.unwrap().len(),
        1
    );
    // Hardware the set does not support is never auto-assigned.
    let other = ds(&store, "os", "7.0").await;
    store
        .set_ds_hw_revisions(other, &["rev-c".into()])
        .await
        .unwrap();
    store
        .set_auto_assign(f.target_filter_id, Some((other, ActionType::Forced)))
        .await
        .unwrap();
    assert_eq!(rollout::tick(&store, 4).await.unwrap().auto_assigned, 0);
    let ok = store.check_compatible(t1.target_id, other).await.unwrap();
    let err = ok.unwrap_err();
    assert_eq!(err.reported.as_deref(), Some("rev-b"));
    assert_eq!(err.supported, ["rev-c"]);
}

fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, ConfigValue> {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                (*k).to_owned(),
                ConfigValue {
                    value: (*v).to_owned(),
                    secret: false,
                },
            )
        })
        .collect()
}

async fn configuration_merges_with_precedence_and_versions(store: Store) {
    let t1 = target(&store, "c1", &[("hw_revision", "rev-b")]).await;
    let t2 = target(&store, "c2", &[("hw_revision", "rev-a")]).await;
    let f = store
        .create_target_filter("cfg", "attribute.hw_revision==rev-b")
        .await
        .unwrap();
    assert_eq!(
        store
            .refresh_device_config(t1.target_id)
            .await
            .unwrap()
            .0
            .revision,
        0,
        "no configuration, no revision"
    );
    store
        .put_config(
            ConfigScope::Tenant,
            &values(&[("a", "tenant"), ("b", "tenant")]),
            "op",
        )
        .await
        .unwrap();
    store
        .put_config(
            ConfigScope::Filter(f.target_filter_id),
            &values(&[("b", "filter"), ("c", "filter")]),
            "op",
        )
        .await
        .unwrap();
    store
        .put_config(
            ConfigScope::Target(t1.target_id),
            &values(&[("c", "target")]),
            "op",
        )
        .await
        .unwrap();
    let (state, eff) = store.refresh_device_config(t1.target_id).await.unwrap();
    let got: BTreeMap<&str, (&str, ConfigSource)> = eff
        .entries
        .iter()
        .map(|(k, (v, s))| (k.as_str(), (v.value.as_str(), *s)))
        .collect();
    assert_eq!(got["a"], ("tenant", ConfigSource::Tenant));
    assert_eq!(
        got["b"],
        ("filter", ConfigSource::Filter(f.target_filter_id))
    );
    assert_eq!(got["c"], ("target", ConfigSource::Target));
    assert_eq!(state.revision, 1);
    let (_, eff2) = store.refresh_device_config(t2.target_id).await.unwrap();
    let keys: BTreeSet<&str> = eff2.entries.keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["a", "b"]));
    assert_eq!(eff2.entries["b"].0.value, "tenant");

    // Unchanged merge: same revision; a change anywhere: next revision.
    assert_eq!(
        store
            .refresh_device_config(t1.target_id)
            .await
            .unwrap()
            .0
            .revision,
        1
    );
    store
        .record_config_applied(t1.target_id, 1, None)
        .await
        .unwrap();
    assert!(store
        .device_config_state(t1.target_id)
        .await
        .unwrap()
        .unwrap()
        .up_to_date());
    store
        .put_config(ConfigScope::Tenant, &values(&[("a", "tenant-2")]), "op")
        .await
        .unwrap();
    let (state, _) = store.refresh_device_config(t1.target_id).await.unwrap();
    assert_eq!((state.revision, state.applied_revision), (2, 1));
    assert!(!state.up_to_date());
    let failed = store
        .record_config_applied(t1.target_id, 2, Some("disk full"))
        .await
        .unwrap();
    assert_eq!(failed.applied_revision, 1);
    assert!(failed.applied_error.unwrap().contains("disk full"));
    assert!(store
        .record_config_applied(t1.target_id, 3, None)
        .await
        .is_err());
    store
        .record_config_applied(t1.target_id, 2, None)
        .await
        .unwrap();
    assert!(store
        .device_config_state(t1.target_id)
        .await
        .unwrap()
        .unwrap()
        .up_to_date());
    // Leaving the filter changes the merge, so the device gets a new revision.
    set_attrs(&store, t1.target_id, &[("hw_revision", "rev-a")]).await;
    let (state, eff) = store.refresh_device_config(t1.target_id).await.unwrap();
    assert_eq!(state.revision, 3);
    assert!(!eff.entries.contains_key("b"));
    // History keeps every revision, newest first.
    let (hist, total) = store
        .config_history(ConfigScope::Tenant, 0, 10)
        .await
        .unwrap();
    assert_eq!(total, 2);
    assert_eq!(hist[0].revision, 2);
    assert_eq!(hist[1].entries["b"].value, "tenant");
}

/// Two server instances on one database run the engine at the same time, again and again,
/// while their devices finish: every target gets exactly one action from the rollout and one
/// from the auto-assignment, never two.
async fn concurrent_engines_never_double_assign(a: Store, b: Store) {
    const N: usize = 300;
    let mut ids = Vec::with_capacity(N);
    for i in 0..N {
        let hw = if i % 3 == 0 { "rev-a" } else { "rev-b" };
        ids.push(
            target(&a, &format!("n{i:04}"), &[("hw_revision", hw)])
                .await
                .target_id,
        );
    }
    let release = ds(&a, "os", "8.0").await;
    let extra = ds(&a, "app", "1.0").await;
    let f = b
        .create_target_filter("rev-a", "attribute.hw_revision==rev-a")
        .await
        .unwrap();
    b.set_auto_assign(f.target_filter_id, Some((extra, ActionType::Forced)))
        .await
        .unwrap();
    // Success at 50 % starts the next group while the previous one still runs.
    let r = a
        .create_rollout(
            &new_rollout("race", "name==n*", release, groups(6, 50, None)),
            1,
        )
        .await
        .unwrap();
    let mut started = 0;
    for round in 0..40_i64 {
        let now = 2 + round;
        if round == 1 {
            rollout::command(&b, r.rollout_id, Command::Start, None, now)
                .await
                .unwrap();
        }
        let (r1, r2, r3, r4) = tokio::join!(
            rollout::tick(&a, now),
            rollout::tick(&b, now),
            rollout::tick(&a, now),
            rollout::tick(&b, now),
        );
        for rep in [r1, r2, r3, r4] {
            started += rep.unwrap().groups_started;
        }
        if status(&a, r.rollout_id).await == RolloutStatus::Finished {
            break;
        }
        // Devices finish some of their work between ticks.
        let mut n = 0_i64;
        for g in a.rollout_groups(r.rollout_id).await.unwrap() {
            let (ts, _) = a
                .rollout_group_targets(g.rollout_group_id, 0, 500)
                .await
                .unwrap();
            for t in ts {
                if let (Some(act), Some("running")) = (t.action_id, t.action_status.as_deref()) {
                    if n % 2 == round % 2 {
                        close(&a, act, true).await;
                    }
                    n += 1;
                }
            }
        }
    }
    assert_eq!(status(&a, r.rollout_id).await, RolloutStatus::Finished);
    assert_eq!(started, 6, "each group started exactly once");
    for (i, id) in ids.iter().enumerate() {
        let actions = a.actions_of_target(*id).await.unwrap();
        let from_rollout = actions
            .iter()
            .filter(|x| x.distribution_set_id == release)
            .count();
        let auto = actions
            .iter()
            .filter(|x| x.distribution_set_id == extra)
            .count();
        assert_eq!(from_rollout, 1, "target {i}: {actions:?}");
        assert_eq!(auto, usize::from(i % 3 == 0), "target {i}: {actions:?}");
    }
}

#[tokio::test]
async fn two_instances_on_one_postgres_database_never_double_assign() {
    let url = crate::helpers::postgres_database_url().await;
    let a = Store::connect(&url).await.unwrap();
    let b = Store::connect(&url).await.unwrap();
    concurrent_engines_never_double_assign(a, b).await;
}

#[tokio::test]
async fn two_instances_on_one_sqlite_file_never_double_assign() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let a = Store::connect(&url).await.unwrap();
    let b = Store::connect(&url).await.unwrap();
    concurrent_engines_never_double_assign(a, b).await;
}
