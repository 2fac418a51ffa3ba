//! Operation: the `user` commands, `--help`, request ids, `/metrics`, the OpenAPI document and
//! TLS.

use std::collections::BTreeSet;
use std::path::Path;

use clap::CommandFactory;
use hawkbit_compat_server::config::{Cli, TlsFiles};
use hawkbit_compat_server::store::ActionType;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with};
use crate::process::{run_cli, ServerProcess};

#[tokio::test]
async fn user_commands_add_list_remove_without_echoing_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let password = "correct-horse-battery";
    let (ok, out, err) = run_cli(
        &[
            "--data-dir",
            data,
            "user",
            "add",
            "alice",
            "--role",
            "admin",
        ],
        &format!("{password}\n"),
    );
    assert!(ok, "{err}");
    assert_eq!(out, "created user alice (admin)\n");
    assert!(
        !out.contains(password) && !err.contains(password),
        "{out}{err}"
    );

    let (ok, _, err) = run_cli(
        &[
            "--data-dir",
            data,
            "user",
            "add",
            "alice",
            "--role",
            "readonly",
        ],
        "another-password-1\n",
    );
    assert!(!ok);
    assert!(err.contains("user alice already exists"), "{err}");

    let (ok, _, err) = run_cli(
        &[
            "--data-dir",
            data,
            "user",
            "add",
            "bob",
            "--role",
            "readonly",
        ],
        "short\n",
    );
    assert!(!ok);
    assert!(
        err.contains("12 to 1024 bytes") && !err.contains("short"),
        "{err}"
    );
    let (ok, _, err) = run_cli(
        &[
            "--data-dir",
            data,
            "user",
            "add",
            "bob",
            "--role",
            "readonly",
        ],
        "",
    );
    assert!(!ok && err.contains("no password"), "{err}");
    let (ok, ..) = run_cli(
        &[
            "--data-dir",
            data,
            "user",
            "add",
            "bob",
            "--role",
            "readonly",
        ],
        "reader-password-1\n",
    );
    assert!(ok);

    let (ok, out, _) = run_cli(&["--data-dir", data, "user", "list"], "");
    assert!(ok);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().take(2).collect())
        .collect();
    assert_eq!(rows, vec![vec!["alice", "admin"], vec!["bob", "readonly"]]);

    // The accounts work against the server started on the same data directory.
    let server = ServerProcess::start(Path::new(data), &[]).await;
    let client = reqwest::Client::new();
    let who = |u: &str, p: &str| {
        client
            .get(format!("{}/rest/v1/targets", server.base))
            .basic_auth(u, Some(p))
            .send()
    };
    assert_eq!(who("alice", password).await.unwrap().status(), 200);
    assert_eq!(who("bob", "reader-password-1").await.unwrap().status(), 200);
    assert_eq!(
        who("alice", "wrong-password-x").await.unwrap().status(),
        401
    );
    drop(server);

    let (ok, _, err) = run_cli(&["--data-dir", data, "user", "remove", "alice"], "");
    assert!(!ok && err.contains("last admin"), "{err}");
    let (ok, out, _) = run_cli(&["--data-dir", data, "user", "remove", "bob"], "");
    assert!(ok, "{out}");
    let (ok, _, err) = run_cli(&["--data-dir", data, "user", "remove", "bob"], "");
    assert!(!ok && err.contains("user bob does not exist"), "{err}");
}

/// Every option and command has help text, and `--help` shows it.
#[test]
fn help_explains_every_option_and_command() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            if arg
                .get_help()
                .is_none_or(|h| h.to_string().trim().is_empty())
            {
                missing.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            if sub.get_about().is_none() {
                missing.push(format!("{path} {} (command)", sub.get_name()));
            }
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let cmd = Cli::command();
    let mut missing = Vec::new();
    walk(&cmd, "hawkbit-compat-server", &mut missing);
    assert!(missing.is_empty(), "undocumented: {missing:?}");

    let (ok, help, _) = run_cli(&["--help"], "");
    assert!(ok);
    for arg in cmd.get_arguments() {
        if let Some(long) = arg.get_long() {
            assert!(
                help.contains(&format!("--{long}")),
                "--{long} missing:\n{help}"
            );
        }
    }
    assert!(
        help.contains("user") && help.contains("HAWKBIT_TLS_CERT"),
        "{help}"
    );
}

#[tokio::test]
async fn request_ids_are_echoed_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        &dir.path().join("data"),
        &[("RUST_LOG", "hawkbit_compat_server=debug")],
    )
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/DEFAULT/controller/v1/nobody", server.base);
    let given = client
        .get(&url)
        .header("X-Request-Id", "trace-me-4711")
        .send()
        .await
        .unwrap();
    assert_eq!(given.status(), 401);
    assert_eq!(given.headers()["x-request-id"], "trace-me-4711");
    let generated = client.get(&url).send().await.unwrap();
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 16);
    let other = client.get(&url).send().await.unwrap();
    assert_ne!(other.headers()["x-request-id"].to_str().unwrap(), id);
    // An unusable incoming id is replaced.
    let bad = client
        .get(&url)
        .header("X-Request-Id", "has spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(bad.headers()["x-request-id"], "has spaces");

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = server.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("request_id=trace-me-4711"))
        .unwrap_or_else(|| panic!("request id not logged:\n{log}"));
    assert!(line.contains("status=401"), "{line}");
    assert!(log.contains(&format!("request_id={id}")), "{log}");
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_show_fleet_gauges() {
    let app = spawn_app().await;
    let d = app
        .deploy("dev1", &[("fw.bin", b"fw")], ActionType::Forced)
        .await;
    app.create_target("dev2").await;
    for _ in 0..3 {
        app.poll_ok("dev1", &d.token).await;
    }
    assert_eq!(app.poll("dev1", "wrong-token").await.status(), 401);
    assert_eq!(
        app.client
            .get(format!("{}/no/such/path", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    let poll = "route=\"/{tenant}/controller/v1/{controller_id}\",method=\"GET\"";
    assert_eq!(
        metric(
            &text,
            &format!("hawkbit_http_requests_total{{{poll},status=\"200\"}}")
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            &format!("hawkbit_http_requests_total{{{poll},status=\"401\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "hawkbit_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            &format!("hawkbit_http_request_duration_seconds_count{{{poll},status=\"200\"}}")
        ),
        Some(3.0)
    );
    assert!(text.contains("# TYPE hawkbit_http_request_duration_seconds histogram"));
    assert_eq!(metric(&text, "hawkbit_targets"), Some(2.0));
    assert_eq!(
        metric(&text, "hawkbit_active_actions{state=\"running\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "hawkbit_active_actions{state=\"canceling\"}"),
        Some(0.0)
    );
    // Management routes carry their full template.
    app.mgmt(Method::GET, "/targets/dev1").send().await.unwrap();
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("route=\"/rest/v1/targets/{controller_id}\",method=\"GET\",status=\"200\""),
        "{text}"
    );
}

/// `(path, method)` of every `.route(...)` registered in `src/api/mgmt/`, read from the source
/// so a new route cannot be forgotten in the document.
fn mgmt_routes_in_source() -> BTreeSet<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/mgmt");
    let mut out = BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    for file in files {
        let src = std::fs::read_to_string(&file).unwrap();
        let mut rest = src.as_str();
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            // The argument list up to the matching parenthesis.
            let mut depth = 1;
            let mut end = 0;
            for (j, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let args = &rest[..end];
            let Some(q1) = args.find('"') else { continue };
            let q2 = q1 + 1 + args[q1 + 1..].find('"').unwrap();
            let path = args[q1 + 1..q2].to_owned();
            let handlers = &args[q2 + 1..];
            let mut found = false;
            for method in ["get", "post", "put", "delete", "patch"] {
                let mut h = handlers;
                while let Some(k) = h.find(&format!("{method}(")) {
                    let before = h[..k].chars().last();
                    if before.is_none_or(|c| !c.is_alphanumeric() && c != '_') {
                        out.insert((path.clone(), method.to_owned()));
                        found = true;
                    }
                    h = &h[k + method.len()..];
                }
            }
            assert!(
                found,
                "no method found for route {path} in {}",
                file.display()
            );
        }
    }
    out
}

/// `{controller_id}` and `{controllerId}` name the same segment.
fn normalize(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            c if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn openapi_document_is_served_and_lists_every_management_route() {
    let app = spawn_app().await;
    // No credentials needed.
    let r = app
        .client
        .get(format!("{}/rest/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (normalize(p), m.clone()))
        })
        .collect();
    let routes = mgmt_routes_in_source();
    assert!(
        routes.len() >= 20,
        "route scan found too little: {routes:?}"
    );
    let missing: Vec<_> = routes
        .iter()
        .filter(|(p, m)| !documented.contains(&(normalize(p), m.clone())))
        .collect();
    assert!(
        missing.is_empty(),
        "routes missing from openapi.json: {missing:?}"
    );
    // And nothing is documented that does not exist.
    let served: BTreeSet<_> = routes
        .iter()
        .map(|(p, m)| (normalize(p), m.clone()))
        .collect();
    let stale: Vec<_> = documented
        .iter()
        .filter(|(p, _)| p != "/openapi.json")
        .filter(|r| !served.contains(r))
        .collect();
    assert!(stale.is_empty(), "documented but not routed: {stale:?}");
    // Every $ref resolves.
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/").skip(1) {
        let target = &part[..part.find('"').unwrap()];
        let mut node = &doc;
        for seg in target.split('/') {
            node = &node[seg];
        }
        assert!(!node.is_null(), "dangling $ref {target}");
    }
    // A documented route really answers (not 404) with credentials.
    let r = app
        .mgmt(Method::GET, "/distributionsets")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// A self-signed certificate for `localhost` and 127.0.0.1, as PEM (cert, key).
fn self_signed() -> (Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509NameBuilder, X509};
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "localhost").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .ip("127.0.0.1")
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(san).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (
        b.build().to_pem().unwrap(),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
}

/// One HTTP/1.1 GET over TLS, verifying the server against `ca_pem`; returns the raw response.
fn https_get(addr: &str, ca_pem: &[u8], path: &str, auth: &str) -> Result<String, String> {
    use openssl::ssl::{SslConnector, SslMethod};
    use std::io::{Read, Write};
    let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
    b.cert_store_mut()
        .add_cert(openssl::x509::X509::from_pem(ca_pem).unwrap())
        .unwrap();
    let connector = b.build();
    let tcp = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let mut tls = connector
        .connect("localhost", tcp)
        .map_err(|e| e.to_string())?;
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    tls.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

#[tokio::test]
async fn tls_is_served_directly_when_certificate_and_key_are_configured() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    let files = TlsFiles {
        cert: cert_path.clone(),
        key: key_path.clone(),
    };
    let app = spawn_app_with(|c| c.tls = Some(files)).await;
    let (_, token) = app.create_target("dev1").await;
    let addr = app.base.trim_start_matches("http://").to_owned();

    let (a, c) = (addr.clone(), cert.clone());
    let auth = format!("TargetToken {token}");
    let resp = tokio::task::spawn_blocking(move || {
        https_get(&a, &c, "/DEFAULT/controller/v1/dev1", &auth)
    })
    .await
    .unwrap()
    .expect("TLS handshake and request");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"polling\""), "{resp}");
    assert!(
        resp.to_ascii_lowercase().contains("x-request-id:"),
        "{resp}"
    );

    // A client that does not trust the certificate is refused in the handshake.
    let (other_cert, _) = self_signed();
    let a = addr.clone();
    let untrusted =
        tokio::task::spawn_blocking(move || https_get(&a, &other_cert, "/metrics", "none"))
            .await
            .unwrap();
    assert!(untrusted.is_err(), "{untrusted:?}");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = app.client.get(format!("{}/metrics", app.base)).send().await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);

    // A bad key file stops the start with a message naming the files.
    std::fs::write(&key_path, b"not a key").unwrap();
    let mut config =
        hawkbit_compat_server::config::Config::load(hawkbit_compat_server::config::Cli::default())
            .unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.data_dir = dir.path().join("data2");
    config.database_url = format!("sqlite://{}", dir.path().join("data2/s.db").display());
    config.tls = Some(TlsFiles {
        cert: cert_path,
        key: key_path,
    });
    let err = hawkbit_compat_server::startup::Application::build(config)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("key.pem"), "{err}");
}

#[tokio::test]
async fn poll_times_are_buffered_visible_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let store = hawkbit_compat_server::store::Store::connect(&url)
        .await
        .unwrap();
    let t = store.register_target("dev1").await.unwrap();
    store.touch_target(t.target_id, 1000).await.unwrap();
    store.touch_target(t.target_id, 900).await.unwrap(); // older: ignored
                                                         // Visible at once through the store...
    assert_eq!(
        store
            .target(t.target_id)
            .await
            .unwrap()
            .unwrap()
            .last_poll_at,
        Some(1000)
    );
    assert_eq!(store.flush_poll_marks().await.unwrap(), 1);
    assert_eq!(store.flush_poll_marks().await.unwrap(), 0);
    store.touch_target(t.target_id, 2000).await.unwrap();
    // ...and written on close, so another connection sees it.
    // Many at once (several statements of a batch).
    let mut ids = Vec::new();
    for i in 0..1200 {
        let t = store.register_target(&format!("bulk{i}")).await.unwrap();
        store.touch_target(t.target_id, 5000 + i).await.unwrap();
        ids.push((t.target_id, 5000 + i));
    }
    assert_eq!(store.flush_poll_marks().await.unwrap(), 1201);
    store.close().await;
    let again = hawkbit_compat_server::store::Store::connect(&url)
        .await
        .unwrap();
    assert_eq!(
        again
            .target(t.target_id)
            .await
            .unwrap()
            .unwrap()
            .last_poll_at,
        Some(2000)
    );
    for (id, at) in [ids[0], ids[777], ids[1199]] {
        assert_eq!(
            again.target(id).await.unwrap().unwrap().last_poll_at,
            Some(at)
        );
    }
}

/// PostgreSQL with `poll_cache_ms`: writes of another instance (here: behind the server's back)
/// are not seen while the answer is reused, the server's own writes are seen at once, and the
/// credentials are still checked.
#[tokio::test]
async fn poll_cache_on_postgres_bounds_what_other_instances_change() {
    let url = crate::helpers::postgres_database_url().await;
    let app = spawn_app_with(|c| {
        c.database_url = url.clone();
        c.poll_cache_ms = 60_000;
    })
    .await;
    let (target, token) = app.create_target("dev1").await;
    app.poll_ok("dev1", &token).await;
    let first = app.poll_ok("dev1", &token).await;
    assert!(first["_links"]["configData"].is_object());
    let other_instance = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE target SET request_attributes = 0 WHERE controller_id = 'dev1'")
        .execute(&other_instance)
        .await
        .unwrap();
    assert_eq!(app.poll_ok("dev1", &token).await, first);
    // ...still recording the poll and checking the token...
    let seen = app.store.target(target.target_id).await.unwrap().unwrap();
    assert!(seen.last_poll_at.is_some());
    assert_eq!(app.poll("dev1", "wrong-token").await.status(), 401);
    // ...while a write of this instance shows at once (with the other one's change).
    app.deploy("dev1", &[("fw.bin", b"fw")], ActionType::Forced)
        .await;
    let now = app.poll_ok("dev1", &token).await;
    assert!(now["_links"]["deploymentBase"].is_object());
    assert!(now["_links"].get("configData").is_none());
}
