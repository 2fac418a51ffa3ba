//! Rollout benchmark driver, run by `ci/bench/rollout`.
//!
//! * `rollout_bench ticks <sizes>`: in-process, on a fresh SQLite database per size (in the
//!   directory `BENCH_DIR`): creates N targets and a one-group rollout over all of them, and
//!   times the engine steps that touch every target: filling the group, starting it (N
//!   actions), and a tick over the running group. Prints one line per size.
//! * `rollout_bench fleet <server-url> <server-pid> <devices> <groups>`: against a running
//!   server (gateway token and admin password from `BENCH_GATEWAY_TOKEN` and
//!   `BENCH_ADMIN_PASSWORD`): registers the devices over DDI, creates a rollout over all of
//!   them, and plays the devices until the rollout is finished. Prints wall and server CPU
//!   time per phase.
//!
//! Output lines are `key=value` pairs for the script to pick up.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use hawkbit_compat_server::rollout;
use hawkbit_compat_server::secret::Secret;
use hawkbit_compat_server::store::{
    ActionType, ErrorAction, NewDistributionSet, NewRollout, NewRolloutGroup, NewTarget,
    RolloutStatus, Store, SuccessAction,
};
use ota_ddi::{ActionFeedback, ControllerBase, DeploymentBase, Execution, Finished};
use serde_json::{json, Value};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ticks") => ticks(&args[1]).await,
        Some("fleet") => {
            fleet(
                &args[1],
                args[2].parse().expect("pid"),
                args[3].parse().expect("devices"),
                args[4].parse().expect("groups"),
            )
            .await;
        }
        _ => {
            eprintln!(
                "usage: rollout_bench ticks 10000,30000,100000 | fleet URL PID DEVICES GROUPS"
            );
            std::process::exit(2);
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn ticks(sizes: &str) {
    let dir = std::env::var("BENCH_DIR").unwrap_or_else(|_| "/tmp".into());
    for n in sizes.split(',').map(|s| s.parse::<usize>().expect("size")) {
        let path = format!("{dir}/ticks-{n}.db");
        let _ = std::fs::remove_file(&path);
        let store = Store::connect(&format!("sqlite://{path}")).await.unwrap();
        let created = Instant::now();
        for i in 0..n {
            store
                .create_target(&NewTarget {
                    controller_id: format!("b{i:07}"),
                    name: format!("b{i:07}"),
                    description: String::new(),
                    security_token: Secret::new(format!("token-{i:07}-padding")),
                })
                .await
                .unwrap();
        }
        let create_s = created.elapsed().as_secs_f64();
        let ds = store
            .create_distribution_set(&NewDistributionSet {
                name: "bench".into(),
                version: "1".into(),
                description: String::new(),
                module_ids: vec![],
            })
            .await
            .unwrap()
            .distribution_set_id;
        let r = store
            .create_rollout(
                &NewRollout {
                    name: "bench".into(),
                    description: String::new(),
                    target_filter_query: "name==b*".into(),
                    distribution_set_id: ds,
                    action_type: ActionType::Forced,
                    forced_time: None,
                    start_at: None,
                    approval_required: false,
                    created_by: "bench".into(),
                    groups: vec![NewRolloutGroup {
                        name: "all".into(),
                        description: String::new(),
                        target_filter_query: String::new(),
                        target_percentage: 100.0,
                        success_threshold: 100,
                        success_action: SuccessAction::NextGroup,
                        error_threshold: Some(5),
                        error_action: ErrorAction::Pause,
                    }],
                },
                1,
            )
            .await
            .unwrap();
        let t = Instant::now();
        rollout::tick(&store, 2).await.unwrap();
        let fill = t.elapsed();
        rollout::command(&store, r.rollout_id, rollout::Command::Start, None, 3)
            .await
            .unwrap();
        let t = Instant::now();
        let rep = rollout::tick(&store, 4).await.unwrap();
        let start = t.elapsed();
        assert_eq!(rep.rollout_actions, n as u64);
        // Steady state: the group runs, nothing changes; median of 5 ticks.
        let mut steady = Vec::new();
        for k in 0..5 {
            let t = Instant::now();
            rollout::tick(&store, 5 + k).await.unwrap();
            steady.push(t.elapsed());
        }
        steady.sort();
        let running = steady[2];
        assert_eq!(
            store.rollout(r.rollout_id).await.unwrap().unwrap().status,
            RolloutStatus::Running
        );
        store.close().await;
        // The main file only: the WAL is scratch space that SQLite reuses.
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        #[allow(clippy::cast_precision_loss)]
        let per = |d: Duration| ms(d) * 1000.0 / n as f64;
        println!(
            "ticks targets={n} create_targets_s={create_s:.1} fill_ms={:.1} fill_us_per_target={:.2} \
             start_ms={:.1} start_us_per_target={:.2} running_tick_ms={:.1} running_us_per_target={:.3} db_mib={:.1}",
            ms(fill),
            per(fill),
            ms(start),
            per(start),
            ms(running),
            per(running),
            size as f64 / 1048576.0
        );
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(format!("{path}-wal"));
        let _ = std::fs::remove_file(format!("{path}-shm"));
    }
}

/// CPU seconds (user + system) the process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("server process");
    let after = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 of stat (utime, stime), counted from the state field as 3.
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    std::env::var("BENCH_CLK_TCK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100.0)
}

struct Client {
    http: reqwest::Client,
    base: String,
    gateway: String,
    admin: String,
}

impl Client {
    fn ddi(&self, id: &str, rest: &str) -> String {
        format!("{}/DEFAULT/controller/v1/{id}{rest}", self.base)
    }
    async fn mgmt(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/rest/v1{path}", self.base))
            .basic_auth("admin", Some(&self.admin));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }
    /// One device's turn: poll; register attributes or install if asked. Returns whether it
    /// installed something.
    async fn device(&self, id: &str) -> bool {
        let auth = format!("GatewayToken {}", self.gateway);
        let base: ControllerBase = self
            .http
            .get(self.ddi(id, ""))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if base.links.config_data.is_some() {
            let r = self
                .http
                .put(self.ddi(id, "/configData"))
                .header("Authorization", &auth)
                .json(&json!({"data": {"hw_revision": "rev-b"}}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            assert!(
                status.is_success(),
                "configData of {id}: {status} {}",
                r.text().await.unwrap_or_default()
            );
        }
        let Some(link) = base.links.deployment_base else {
            return false;
        };
        let dep: DeploymentBase = self
            .http
            .get(&link.href)
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let fb = ActionFeedback::new(Execution::Closed, Finished::Success, vec![]);
        let r = self
            .http
            .post(self.ddi(id, &format!("/deploymentBase/{}/feedback", dep.id)))
            .header("Authorization", &auth)
            .json(&fb)
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(
            status.is_success(),
            "feedback of {id}: {status} {}",
            r.text().await.unwrap_or_default()
        );
        true
    }
}

const CONCURRENCY: usize = 64;

async fn fleet(url: &str, pid: u32, devices: usize, groups: usize) {
    let c = Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(CONCURRENCY)
            .build()
            .unwrap(),
        base: url.trim_end_matches('/').to_owned(),
        gateway: std::env::var("BENCH_GATEWAY_TOKEN").expect("BENCH_GATEWAY_TOKEN"),
        admin: std::env::var("BENCH_ADMIN_PASSWORD").expect("BENCH_ADMIN_PASSWORD"),
    };
    let ids: Vec<String> = (0..devices).map(|i| format!("sim{i:07}")).collect();

    // Phase 1: every device registers (first poll with the gateway token) and reports its
    // hardware revision.
    let (t, cpu) = (Instant::now(), cpu_seconds(pid));
    stream::iter(ids.iter())
        .for_each_concurrent(CONCURRENCY, |id| async {
            c.device(id).await;
        })
        .await;
    println!(
        "phase=register devices={devices} wall_s={:.1} server_cpu_s={:.1}",
        t.elapsed().as_secs_f64(),
        cpu_seconds(pid) - cpu
    );

    // Phase 2: create the rollout (fills the groups).
    let ds = c
        .mgmt(
            reqwest::Method::POST,
            "/distributionsets",
            Some(json!([{"name": "bench-release", "version": "1.0"}])),
        )
        .await[0]["id"]
        .as_i64()
        .unwrap();
    let (t, cpu) = (Instant::now(), cpu_seconds(pid));
    let r = c
        .mgmt(
            reqwest::Method::POST,
            "/rollouts",
            Some(json!({
                "name": "bench",
                "targetFilterQuery": "attribute.hw_revision==rev-b",
                "distributionSetId": ds,
                "amountGroups": groups,
                "successCondition": {"condition": "THRESHOLD", "expression": "95"},
                "errorCondition": {"condition": "THRESHOLD", "expression": "5"}
            })),
        )
        .await;
    let id = r["id"].as_i64().unwrap();
    assert_eq!(r["totalTargets"].as_u64().unwrap() as usize, devices);
    println!(
        "phase=create targets={devices} groups={groups} wall_s={:.2} server_cpu_s={:.2}",
        t.elapsed().as_secs_f64(),
        cpu_seconds(pid) - cpu
    );

    // Phase 3: start and play the devices of the running groups until the rollout finishes.
    // Devices of groups that have not started are not polled: their polls would be the same
    // idle poll measured in phase 1 and would only stretch the run.
    let (t, cpu) = (Instant::now(), cpu_seconds(pid));
    c.mgmt(
        reqwest::Method::POST,
        &format!("/rollouts/{id}/start"),
        None,
    )
    .await;
    let mut installed = 0usize;
    let mut rounds = 0;
    loop {
        rounds += 1;
        let r = c
            .mgmt(reqwest::Method::GET, &format!("/rollouts/{id}"), None)
            .await;
        if r["status"] == "FINISHED" {
            break;
        }
        assert_eq!(r["status"], "RUNNING", "{r}");
        let gs = c
            .mgmt(
                reqwest::Method::GET,
                &format!("/rollouts/{id}/deploygroups"),
                None,
            )
            .await;
        let mut todo = Vec::new();
        for g in gs["content"].as_array().unwrap() {
            if g["status"] != "RUNNING" {
                continue;
            }
            let gid = g["id"].as_i64().unwrap();
            let mut offset = 0;
            loop {
                let page = c
                    .mgmt(
                        reqwest::Method::GET,
                        &format!(
                            "/rollouts/{id}/deploygroups/{gid}/targets?offset={offset}&limit=500"
                        ),
                        None,
                    )
                    .await;
                let content = page["content"].as_array().unwrap();
                for t in content {
                    if t["actionStatus"] == "running" {
                        todo.push(t["controllerId"].as_str().unwrap().to_owned());
                    }
                }
                offset += 500;
                if content.len() < 500 {
                    break;
                }
            }
        }
        if todo.is_empty() {
            // Waiting for the engine's next tick.
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let n: usize = stream::iter(todo.iter())
            .map(|id| c.device(id))
            .buffer_unordered(CONCURRENCY)
            .filter(|b| std::future::ready(*b))
            .count()
            .await;
        installed += n;
    }
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu;
    #[allow(clippy::cast_precision_loss)]
    let per_dev = cpu * 1e6 / devices as f64;
    println!(
        "phase=rollout devices={devices} installed={installed} rounds={rounds} wall_s={wall:.1} \
         server_cpu_s={cpu:.1} server_cpu_us_per_device={per_dev:.0}"
    );
}
