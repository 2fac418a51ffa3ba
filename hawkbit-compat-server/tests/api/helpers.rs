use std::sync::atomic::{AtomicU32, Ordering};

use hawkbit_compat_server::store::Store;

/// A store on a fresh SQLite file; the directory is removed when the returned guard drops.
pub async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = Store::connect(&url).await.expect("open SQLite store");
    (store, dir)
}

/// Name of the variable holding the PostgreSQL URL for the store tests.
pub const POSTGRES_URL_VAR: &str = "TEST_POSTGRES_URL";

/// A store on a fresh database in the PostgreSQL server named by `TEST_POSTGRES_URL`.
///
/// Panics when the variable is unset: the PostgreSQL half of the store suite is as much a part
/// of the test run as the SQLite half, and skipping it silently would let backend drift through.
/// Start a server with `hawkbit-compat-server/tests/start-postgres.sh` (it prints the URL).
pub async fn postgres_store() -> Store {
    Store::connect(&postgres_database_url().await)
        .await
        .expect("open PostgreSQL store")
}

/// Creates a fresh database in the PostgreSQL server named by `TEST_POSTGRES_URL` and returns
/// its URL (for tests that open it twice, like two server instances). Panics when unset.
pub async fn postgres_database_url() -> String {
    let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
        panic!(
            "{POSTGRES_URL_VAR} is not set. The store tests need a PostgreSQL server: run\n  \
             export {POSTGRES_URL_VAR}=\"$(hawkbit-compat-server/tests/start-postgres.sh /tmp/ota-pg)\"\n\
             and run the tests again."
        );
    };
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "ota_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_URL_VAR}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create test database");
    with_database(&admin_url, &name)
}

/// Replaces the database name in a `postgres://` URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map(|i| authority_start + i);
    let mut out = match path_start {
        Some(i) => format!("{}/{db}", &base[..i]),
        None => format!("{base}/{db}"),
    };
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[tokio::test]
async fn in_memory_sqlite_keeps_its_data_across_queries() {
    let store = Store::connect("sqlite::memory:")
        .await
        .expect("in-memory store");
    for i in 0..10 {
        store.register_target(&format!("m{i}")).await.unwrap();
    }
    assert_eq!(store.list_targets(0, 50).await.unwrap().1, 10);
}

#[test]
fn with_database_replaces_the_path() {
    assert_eq!(
        with_database("postgres://u@localhost/postgres?host=/tmp/x", "t1"),
        "postgres://u@localhost/t1?host=/tmp/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h:5432", "t1"),
        "postgres://u:p@h:5432/t1"
    );
}

// ---------------------------------------------------------------------------------------------
// The HTTP server.

use hawkbit_compat_server::artifacts::ArtifactStore;
use hawkbit_compat_server::config::{Cli, Config};
use hawkbit_compat_server::secret::Secret;
use hawkbit_compat_server::startup::Application;
use hawkbit_compat_server::store::{
    ActionType, NewArtifact, NewDistributionSet, NewSoftwareModule, NewTarget, Target,
};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

/// Password of the bootstrap `admin` operator in every test server.
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// Gateway token configured in every test server.
pub const GATEWAY_TOKEN: &str = "gateway-token-for-tests-0123456789";

/// A running server on an ephemeral port with its own data directory.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    /// Direct access to the database for arranging data.
    pub store: Store,
    /// Direct access to the artifact files.
    pub artifacts: ArtifactStore,
    /// HTTP client.
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// What [`TestApp::deploy`] created.
pub struct Deployed {
    pub token: String,
    pub module_id: i64,
    pub action_id: i64,
}

/// Starts a server with test defaults: SQLite in a temp dir, gateway token set, no rate limit.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after `adjust` has changed the test defaults.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::load(Cli::default()).expect("default config");
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.data_dir = dir.path().join("data");
    config.database_url = format!("sqlite://{}", dir.path().join("data/server.db").display());
    config.gateway_token = Some(Secret::new(GATEWAY_TOKEN));
    config.rate_limit = 0;
    config.admin_password = Some(Secret::new(ADMIN_PASSWORD));
    adjust(&mut config);
    let app = Application::build(config).await.expect("server starts");
    let base = format!("http://{}", app.local_addr());
    let store = app.store().clone();
    let artifacts = app.artifacts().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        app.run_until(async {
            let _ = rx.await;
        })
        .await
        .expect("server runs");
    });
    TestApp {
        base,
        store,
        artifacts,
        client: reqwest::Client::new(),
        _dir: dir,
        _shutdown: tx,
    }
}

impl TestApp {
    /// The server's data directory (its SQLite database is `server.db` in it).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("data")
    }

    /// `/DEFAULT/controller/v1/<controller>` plus `rest`.
    pub fn ddi_url(&self, controller: &str, rest: &str) -> String {
        format!("{}/DEFAULT/controller/v1/{controller}{rest}", self.base)
    }

    /// A request with `Authorization: TargetToken <token>`.
    pub fn ddi(&self, method: Method, url: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, url)
            .header("Authorization", format!("TargetToken {token}"))
    }

    /// A management API request as `user`.
    pub fn mgmt_as(
        &self,
        method: Method,
        path: &str,
        user: &str,
        password: &str,
    ) -> RequestBuilder {
        self.client
            .request(method, format!("{}/rest/v1{path}", self.base))
            .basic_auth(user, Some(password))
    }

    /// A management API request as the bootstrap admin.
    pub fn mgmt(&self, method: Method, path: &str) -> RequestBuilder {
        self.mgmt_as(method, path, "admin", ADMIN_PASSWORD)
    }

    /// Base poll with a target token.
    pub async fn poll(&self, controller: &str, token: &str) -> Response {
        self.ddi(Method::GET, &self.ddi_url(controller, ""), token)
            .send()
            .await
            .unwrap()
    }

    /// Base poll that must succeed; returns the JSON.
    pub async fn poll_ok(&self, controller: &str, token: &str) -> Value {
        let r = self.poll(controller, token).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// POSTs a JSON body.
    pub async fn post_json(&self, url: &str, token: &str, body: &Value) -> Response {
        self.ddi(Method::POST, url, token)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// Creates a target with a known token.
    pub async fn create_target(&self, controller: &str) -> (Target, String) {
        let token = format!("token-of-{controller}");
        let t = self
            .store
            .create_target(&NewTarget {
                controller_id: controller.into(),
                name: controller.into(),
                description: String::new(),
                security_token: Secret::new(token.clone()),
            })
            .await
            .unwrap();
        (t, token)
    }

    /// Creates a target, a module with the given files, a distribution set, and assigns it.
    pub async fn deploy(
        &self,
        controller: &str,
        files: &[(&str, &[u8])],
        action_type: ActionType,
    ) -> Deployed {
        let (target, token) = match self
            .store
            .target_by_controller_id(controller)
            .await
            .unwrap()
        {
            Some(t) => {
                let token = t.security_token.expose().to_owned();
                (t, token)
            }
            None => self.create_target(controller).await,
        };
        let (module_id, ds_id) = self.release(controller, files).await;
        let action = self
            .store
            .assign(target.target_id, ds_id, action_type)
            .await
            .unwrap();
        Deployed {
            token,
            module_id,
            action_id: action.action_id,
        }
    }

    /// Creates a module with the given files and a distribution set holding it; returns both
    /// ids.
    pub async fn release(&self, label: &str, files: &[(&str, &[u8])]) -> (i64, i64) {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let module = self
            .store
            .create_software_module(&NewSoftwareModule {
                name: format!("fw-{label}-{n}"),
                version: "1.0".into(),
                module_type: "os".into(),
                vendor: String::new(),
                description: String::new(),
            })
            .await
            .unwrap();
        for (name, content) in files {
            let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(
                bytes::Bytes::copy_from_slice(content),
            )]);
            let stored = self.artifacts.store_stream(stream, u64::MAX).await.unwrap();
            self.store
                .add_artifact(&NewArtifact {
                    software_module_id: module.software_module_id,
                    filename: (*name).into(),
                    sha1: stored.sha1,
                    md5: stored.md5,
                    sha256: stored.sha256,
                    size: stored.size,
                    bundle: None,
                })
                .await
                .unwrap();
        }
        let ds = self
            .store
            .create_distribution_set(&NewDistributionSet {
                name: format!("release-{label}-{n}"),
                version: "1.0".into(),
                description: String::new(),
                module_ids: vec![module.software_module_id],
            })
            .await
            .unwrap();
        (module.software_module_id, ds.distribution_set_id)
    }
}
