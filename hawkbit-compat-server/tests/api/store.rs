//! The store suite: every test runs once on SQLite and once on PostgreSQL, proving that the
//! portable SQL and the two migration folders mean the same thing.

use std::collections::BTreeMap;

use hawkbit_compat_server::secret::Secret;
use hawkbit_compat_server::store::{
    ActionState, ActionType, BundleMeta, Error, HistoryStatus, ModuleMetadata, NewArtifact,
    NewDistributionSet, NewSoftwareModule, NewStatusEntry, NewTarget, Role, Store,
};
use ota_ddi::{ConfigData, UpdateMode};

use crate::helpers::{postgres_store, sqlite_store};

macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (store, _dir) = $crate::store::sqlite_store().await;
                    super::$name(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let store = $crate::store::postgres_store().await;
                    super::$name(store).await;
                }
            )*
        }
    };
}

store_tests!(
    targets_round_trip,
    duplicate_controller_id_is_a_conflict,
    register_target_is_idempotent,
    target_paging,
    attributes_follow_update_modes,
    modules_artifacts_and_metadata,
    distribution_sets_check_their_modules,
    assignment_creates_running_action_and_supersedes_older,
    closing_an_action_is_final_and_rerequests_attributes,
    operator_cancel_only_for_running_actions,
    download_permission_follows_assignments,
    deleting_a_target_removes_its_actions,
    operators_and_the_last_admin,
    poll_actions_in_one_query,
    poll_times_are_flushed_in_batches,
);

fn new_target(id: &str) -> NewTarget {
    NewTarget {
        controller_id: id.into(),
        name: format!("name of {id}"),
        description: "desc".into(),
        security_token: Secret::new(format!("token-{id}")),
    }
}

fn new_module(name: &str, version: &str) -> NewSoftwareModule {
    NewSoftwareModule {
        name: name.into(),
        version: version.into(),
        module_type: "os".into(),
        vendor: "acme".into(),
        description: String::new(),
    }
}

fn new_artifact(sm: i64, filename: &str) -> NewArtifact {
    NewArtifact {
        software_module_id: sm,
        filename: filename.into(),
        sha1: "a".repeat(40),
        md5: "b".repeat(32),
        sha256: "c".repeat(64),
        size: 5_000_000_000,
        bundle: None,
    }
}

/// A target with a distribution set of one module, ready to be assigned.
async fn fixture(store: &Store, controller: &str) -> (i64, i64, i64) {
    let t = store.create_target(&new_target(controller)).await.unwrap();
    let m = store
        .create_software_module(&new_module(&format!("fw-{controller}"), "1"))
        .await
        .unwrap();
    let ds = store
        .create_distribution_set(&NewDistributionSet {
            name: format!("rel-{controller}"),
            version: "1".into(),
            description: String::new(),
            module_ids: vec![m.software_module_id],
        })
        .await
        .unwrap();
    (t.target_id, ds.distribution_set_id, m.software_module_id)
}

fn entry(status: HistoryStatus, msg: &str) -> NewStatusEntry {
    NewStatusEntry {
        status,
        code: Some(7),
        messages: vec![msg.into()],
        occurred_at: 1_000,
    }
}

async fn targets_round_trip(store: Store) {
    let created = store.create_target(&new_target("dev-1")).await.unwrap();
    assert_eq!(created.controller_id, "dev-1");
    assert!(
        created.request_attributes,
        "new targets are asked for attributes"
    );
    assert_eq!(created.security_token.expose(), "token-dev-1");
    assert_eq!(created.last_poll_at, None);

    let by_id = store
        .target_by_controller_id("dev-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id, created);
    assert_eq!(
        store.target(created.target_id).await.unwrap().unwrap(),
        created
    );
    assert!(store
        .target_by_controller_id("nope")
        .await
        .unwrap()
        .is_none());

    store.touch_target(created.target_id, 12345).await.unwrap();
    let touched = store.target(created.target_id).await.unwrap().unwrap();
    assert_eq!(touched.last_poll_at, Some(12345));
}

async fn duplicate_controller_id_is_a_conflict(store: Store) {
    store.create_target(&new_target("dup")).await.unwrap();
    let err = store.create_target(&new_target("dup")).await.unwrap_err();
    assert!(matches!(err, Error::Conflict), "{err:?}");
}

async fn register_target_is_idempotent(store: Store) {
    let a = store.register_target("auto-1").await.unwrap();
    let b = store.register_target("auto-1").await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a.security_token.expose().len(), 32);
    // Concurrent first polls end with one target.
    let (x, y) = tokio::join!(
        store.register_target("auto-2"),
        store.register_target("auto-2")
    );
    assert_eq!(x.unwrap().target_id, y.unwrap().target_id);
}

async fn target_paging(store: Store) {
    for i in 0..7 {
        store
            .create_target(&new_target(&format!("p{i}")))
            .await
            .unwrap();
    }
    let (first, total) = store.list_targets(0, 3).await.unwrap();
    assert_eq!(total, 7);
    assert_eq!(
        first
            .iter()
            .map(|t| t.controller_id.as_str())
            .collect::<Vec<_>>(),
        ["p0", "p1", "p2"]
    );
    let (last, _) = store.list_targets(6, 3).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].controller_id, "p6");
    let (none, total) = store.list_targets(50, 3).await.unwrap();
    assert!(none.is_empty());
    assert_eq!(total, 7);
}

async fn attributes_follow_update_modes(store: Store) {
    let t = store.create_target(&new_target("attr")).await.unwrap();
    let upd = |mode, kv: &[(&str, &str)]| ConfigData {
        data: kv
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        mode,
    };
    store
        .update_target_attributes(t.target_id, &upd(None, &[("a", "1"), ("b", "2")]))
        .await
        .unwrap();
    assert!(
        !store
            .target(t.target_id)
            .await
            .unwrap()
            .unwrap()
            .request_attributes
    );
    store
        .update_target_attributes(t.target_id, &upd(Some(UpdateMode::Merge), &[("b", "3")]))
        .await
        .unwrap();
    let expect = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        store.target_attributes(t.target_id).await.unwrap(),
        expect(&[("a", "1"), ("b", "3")])
    );
    store
        .update_target_attributes(t.target_id, &upd(Some(UpdateMode::Remove), &[("a", "")]))
        .await
        .unwrap();
    assert_eq!(
        store.target_attributes(t.target_id).await.unwrap(),
        expect(&[("b", "3")])
    );
    store
        .update_target_attributes(t.target_id, &upd(Some(UpdateMode::Replace), &[("c", "4")]))
        .await
        .unwrap();
    assert_eq!(
        store.target_attributes(t.target_id).await.unwrap(),
        expect(&[("c", "4")])
    );
    store
        .set_request_attributes(t.target_id, true)
        .await
        .unwrap();
    assert!(
        store
            .target(t.target_id)
            .await
            .unwrap()
            .unwrap()
            .request_attributes
    );
}

async fn modules_artifacts_and_metadata(store: Store) {
    let m = store
        .create_software_module(&new_module("fw", "1.0"))
        .await
        .unwrap();
    assert_eq!(
        store
            .software_module(m.software_module_id)
            .await
            .unwrap()
            .unwrap(),
        m
    );
    assert!(matches!(
        store.create_software_module(&new_module("fw", "1.0")).await,
        Err(Error::Conflict)
    ));
    let (list, total) = store.list_software_modules(0, 10).await.unwrap();
    assert_eq!((list.len(), total), (1, 1));

    // Sizes beyond 4 GiB survive (bundles can be large), and so do bundle facts.
    let bundle = Some(BundleMeta {
        compatible: "acme-board".into(),
        version: Some("1.2".into()),
    });
    let a = store
        .add_artifact(&NewArtifact {
            bundle: bundle.clone(),
            ..new_artifact(m.software_module_id, "fw.raucb")
        })
        .await
        .unwrap();
    assert_eq!(a.size, 5_000_000_000);
    assert_eq!(a.bundle, bundle);
    let unversioned = store
        .add_artifact(&NewArtifact {
            bundle: Some(BundleMeta {
                compatible: "x".into(),
                version: None,
            }),
            ..new_artifact(m.software_module_id, "other.raucb")
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .artifact_by_name(m.software_module_id, "other.raucb")
            .await
            .unwrap(),
        Some(unversioned)
    );
    assert!(matches!(
        store
            .add_artifact(&new_artifact(m.software_module_id, "fw.raucb"))
            .await,
        Err(Error::Conflict)
    ));
    assert!(matches!(
        store
            .add_artifact(&new_artifact(m.software_module_id + 1000, "x"))
            .await,
        Err(Error::NotFound(_))
    ));
    store
        .add_artifact(&new_artifact(m.software_module_id, "a-first.txt"))
        .await
        .unwrap();
    let names: Vec<_> = store
        .artifacts_of_module(m.software_module_id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.filename)
        .collect();
    assert_eq!(names, ["a-first.txt", "fw.raucb", "other.raucb"]);
    assert_eq!(
        store
            .artifact_by_name(m.software_module_id, "fw.raucb")
            .await
            .unwrap(),
        Some(a)
    );
    assert_eq!(
        store
            .artifact_by_name(m.software_module_id, "nope")
            .await
            .unwrap(),
        None
    );

    let meta = |k: &str, v: &str, vis| ModuleMetadata {
        key: k.into(),
        value: v.into(),
        target_visible: vis,
    };
    store
        .set_module_metadata(m.software_module_id, &meta("k1", "v1", true))
        .await
        .unwrap();
    store
        .set_module_metadata(m.software_module_id, &meta("k2", "v2", false))
        .await
        .unwrap();
    store
        .set_module_metadata(m.software_module_id, &meta("k1", "v1b", true))
        .await
        .unwrap();
    assert_eq!(
        store
            .module_metadata(m.software_module_id, true)
            .await
            .unwrap(),
        [meta("k1", "v1b", true)]
    );
    assert_eq!(
        store
            .module_metadata(m.software_module_id, false)
            .await
            .unwrap()
            .len(),
        2
    );
}

async fn distribution_sets_check_their_modules(store: Store) {
    let m1 = store
        .create_software_module(&new_module("a", "1"))
        .await
        .unwrap();
    let m2 = store
        .create_software_module(&new_module("b", "1"))
        .await
        .unwrap();
    let ds = store
        .create_distribution_set(&NewDistributionSet {
            name: "rel".into(),
            version: "1".into(),
            description: "d".into(),
            module_ids: vec![
                m2.software_module_id,
                m1.software_module_id,
                m2.software_module_id,
            ],
        })
        .await
        .unwrap();
    assert_eq!(
        ds.module_ids,
        [m1.software_module_id, m2.software_module_id]
    );
    assert_eq!(
        store
            .distribution_set(ds.distribution_set_id)
            .await
            .unwrap()
            .unwrap(),
        ds
    );
    let mods = store
        .modules_of_distribution_set(ds.distribution_set_id)
        .await
        .unwrap();
    assert_eq!(mods, [m1.clone(), m2]);

    let dup = store
        .create_distribution_set(&NewDistributionSet {
            name: "rel".into(),
            version: "1".into(),
            description: String::new(),
            module_ids: vec![],
        })
        .await;
    assert!(matches!(dup, Err(Error::Conflict)), "{dup:?}");
    let missing = store
        .create_distribution_set(&NewDistributionSet {
            name: "rel".into(),
            version: "2".into(),
            description: String::new(),
            module_ids: vec![m1.software_module_id, 999_999],
        })
        .await;
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
    // The failed creation left nothing behind.
    let (all, total) = store.list_distribution_sets(0, 10).await.unwrap();
    assert_eq!((all.len(), total), (1, 1));
}

async fn assignment_creates_running_action_and_supersedes_older(store: Store) {
    let (target, ds, _) = fixture(&store, "as").await;
    let first = store.assign(target, ds, ActionType::Forced).await.unwrap();
    assert_eq!((first.state, first.active), (ActionState::Running, true));
    let history = store.action_history(first.action_id, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].status, HistoryStatus::Running);

    let second = store.assign(target, ds, ActionType::Soft).await.unwrap();
    assert_eq!(second.action_type, ActionType::Soft);
    let active = store.active_actions(target).await.unwrap();
    assert_eq!(
        active.iter().map(|a| a.action_id).collect::<Vec<_>>(),
        [first.action_id, second.action_id]
    );
    assert_eq!(active[0].state, ActionState::Canceling);
    assert_eq!(
        store.action_history(first.action_id, 10).await.unwrap()[0].status,
        HistoryStatus::Canceling
    );

    assert!(matches!(
        store.assign(target, ds + 100, ActionType::Forced).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        store.assign(target + 100, ds, ActionType::Forced).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(store.actions_of_target(target).await.unwrap().len(), 2);
}

async fn closing_an_action_is_final_and_rerequests_attributes(store: Store) {
    let (target, ds, _) = fixture(&store, "close").await;
    store.set_request_attributes(target, false).await.unwrap();
    let a = store.assign(target, ds, ActionType::Forced).await.unwrap();
    let upd = store
        .record_action_status(
            a.action_id,
            None,
            &entry(HistoryStatus::Download, "downloading"),
        )
        .await
        .unwrap();
    assert_eq!(upd.state, ActionState::Running);
    let done = store
        .record_action_status(
            a.action_id,
            Some(ActionState::Finished),
            &entry(HistoryStatus::Finished, "ok"),
        )
        .await
        .unwrap();
    assert_eq!((done.state, done.active), (ActionState::Finished, false));
    assert!(
        store
            .target(target)
            .await
            .unwrap()
            .unwrap()
            .request_attributes
    );
    assert_eq!(
        store
            .last_finished_action(target)
            .await
            .unwrap()
            .unwrap()
            .action_id,
        a.action_id
    );
    assert!(store.active_actions(target).await.unwrap().is_empty());

    let again = store
        .record_action_status(
            a.action_id,
            Some(ActionState::Error),
            &entry(HistoryStatus::Error, "late"),
        )
        .await;
    assert!(matches!(again, Err(Error::InvalidState(_))), "{again:?}");
    let unknown = store
        .record_action_status(999_999, None, &entry(HistoryStatus::Running, "x"))
        .await;
    assert!(matches!(unknown, Err(Error::NotFound(_))), "{unknown:?}");

    let history = store.action_history(a.action_id, 100).await.unwrap();
    assert_eq!(
        history.iter().map(|h| h.status).collect::<Vec<_>>(),
        [
            HistoryStatus::Finished,
            HistoryStatus::Download,
            HistoryStatus::Running
        ]
    );
    assert_eq!(history[0].messages, ["ok"]);
    assert_eq!(history[0].code, Some(7));
    assert_eq!(store.action_history(a.action_id, 1).await.unwrap().len(), 1);
    assert_eq!(store.action_status_count(a.action_id).await.unwrap(), 3);
}

async fn operator_cancel_only_for_running_actions(store: Store) {
    let (target, ds, _) = fixture(&store, "cancel").await;
    let a = store.assign(target, ds, ActionType::Forced).await.unwrap();
    let c = store.request_cancel(a.action_id).await.unwrap();
    assert_eq!((c.state, c.active), (ActionState::Canceling, true));
    assert!(matches!(
        store.request_cancel(a.action_id).await,
        Err(Error::InvalidState(_))
    ));
    assert!(matches!(
        store.request_cancel(424_242).await,
        Err(Error::NotFound(_))
    ));
    store
        .record_action_status(
            a.action_id,
            Some(ActionState::Canceled),
            &entry(HistoryStatus::Canceled, "ok"),
        )
        .await
        .unwrap();
    assert!(store.active_actions(target).await.unwrap().is_empty());
    assert!(store.last_finished_action(target).await.unwrap().is_none());
}

async fn download_permission_follows_assignments(store: Store) {
    let (target, ds, module) = fixture(&store, "dl").await;
    let (other_target, _, other_module) = fixture(&store, "dl-other").await;
    assert!(!store
        .module_assigned_to_target(target, module)
        .await
        .unwrap());
    let a = store.assign(target, ds, ActionType::Forced).await.unwrap();
    assert_eq!(
        store
            .active_action_with_module(target, module)
            .await
            .unwrap(),
        Some(a.action_id)
    );
    assert_eq!(
        store
            .active_action_with_module(target, other_module)
            .await
            .unwrap(),
        None
    );
    assert!(store
        .module_assigned_to_target(target, module)
        .await
        .unwrap());
    assert!(!store
        .module_assigned_to_target(target, other_module)
        .await
        .unwrap());
    assert!(!store
        .module_assigned_to_target(other_target, module)
        .await
        .unwrap());
    // Still downloadable once installed (installedBase), not once failed.
    store
        .record_action_status(
            a.action_id,
            Some(ActionState::Finished),
            &entry(HistoryStatus::Finished, ""),
        )
        .await
        .unwrap();
    assert!(store
        .module_assigned_to_target(target, module)
        .await
        .unwrap());
    assert_eq!(
        store
            .active_action_with_module(target, module)
            .await
            .unwrap(),
        None
    );
    let (t2, ds2, m2) = fixture(&store, "dl-fail").await;
    let b = store.assign(t2, ds2, ActionType::Forced).await.unwrap();
    store
        .record_action_status(
            b.action_id,
            Some(ActionState::Error),
            &entry(HistoryStatus::Error, ""),
        )
        .await
        .unwrap();
    assert!(!store.module_assigned_to_target(t2, m2).await.unwrap());
}

async fn deleting_a_target_removes_its_actions(store: Store) {
    let (target, ds, _) = fixture(&store, "del").await;
    let a = store.assign(target, ds, ActionType::Forced).await.unwrap();
    assert!(store.delete_target("del").await.unwrap());
    assert!(!store.delete_target("del").await.unwrap());
    assert!(store.action(a.action_id).await.unwrap().is_none());
    assert!(store
        .action_history(a.action_id, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn operators_and_the_last_admin(store: Store) {
    assert_eq!(store.operator_count().await.unwrap(), 0);
    let a = store
        .create_operator("alice", "$argon2id$fake", Role::Admin)
        .await
        .unwrap();
    assert_eq!((a.username.as_str(), a.role), ("alice", Role::Admin));
    assert!(matches!(
        store.create_operator("alice", "h", Role::ReadOnly).await,
        Err(Error::Conflict)
    ));
    store
        .create_operator("bob", "h2", Role::ReadOnly)
        .await
        .unwrap();
    assert_eq!(
        store
            .operator_by_username("bob")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "h2"
    );
    assert!(store.operator_by_username("carol").await.unwrap().is_none());
    let names: Vec<_> = store
        .list_operators()
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.username)
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert!(matches!(
        store.delete_operator("alice").await,
        Err(Error::InvalidState(_))
    ));
    store
        .create_operator("carol", "h3", Role::Admin)
        .await
        .unwrap();
    assert!(store.delete_operator("alice").await.unwrap());
    assert!(!store.delete_operator("alice").await.unwrap());
    assert!(store.delete_operator("bob").await.unwrap());
    assert_eq!(store.operator_count().await.unwrap(), 1);
}

async fn poll_actions_in_one_query(store: Store) {
    let (target, ds, _) = fixture(&store, "poll").await;
    assert_eq!(store.poll_actions(target).await.unwrap(), (None, None));
    let first = store.assign(target, ds, ActionType::Forced).await.unwrap();
    let closing = entry(HistoryStatus::Finished, "done");
    store
        .record_action_status(first.action_id, Some(ActionState::Finished), &closing)
        .await
        .unwrap();
    let second = store.assign(target, ds, ActionType::Soft).await.unwrap();
    let third = store.assign(target, ds, ActionType::Forced).await.unwrap();
    let (open, done) = store.poll_actions(target).await.unwrap();
    // The oldest open action (the second, now canceling) and the finished first one; exactly
    // what the two separate queries answer.
    assert_eq!(open.as_ref().map(|a| a.action_id), Some(second.action_id));
    assert_eq!(open.unwrap().state, ActionState::Canceling);
    assert_eq!(done.as_ref().map(|a| a.action_id), Some(first.action_id));
    assert_eq!(
        store.active_actions(target).await.unwrap()[0].action_id,
        second.action_id
    );
    assert_eq!(
        store
            .last_finished_action(target)
            .await
            .unwrap()
            .map(|a| a.action_id),
        Some(first.action_id)
    );
    assert!(third.action_id > second.action_id);
}

async fn poll_times_are_flushed_in_batches(store: Store) {
    let mut ids = Vec::new();
    for i in 0..1100_i64 {
        let t = store.register_target(&format!("poller{i}")).await.unwrap();
        store.touch_target(t.target_id, 10_000 + i).await.unwrap();
        ids.push((t.target_id, 10_000 + i));
    }
    assert_eq!(store.flush_poll_marks().await.unwrap(), 1100);
    // Nothing pending any more: these reads come from the database.
    for (id, at) in [ids[0], ids[499], ids[500], ids[1099]] {
        let t = store.target(id).await.unwrap().unwrap();
        assert_eq!(t.last_poll_at, Some(at));
    }
}
