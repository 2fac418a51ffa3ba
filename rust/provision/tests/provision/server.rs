//! The real hawkbit-compat-server, in process on an ephemeral port, on its
//! own runtime thread (the tool under test is blocking).

use hawkbit_compat_server::config::{Cli, Config};
use hawkbit_compat_server::secret::Secret;
use hawkbit_compat_server::startup::Application;

pub const ADMIN_PASSWORD: &str = "admin-password-for-provisioning-tests";

pub struct Server {
    pub base: String,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    pub fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::load(Cli::default()).expect("default config");
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.data_dir = dir.path().join("data");
        config.database_url = format!("sqlite://{}", dir.path().join("data/server.db").display());
        config.rate_limit = 0;
        config.admin_password = Some(Secret::new(ADMIN_PASSWORD));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let app = Application::build(config).await.expect("server starts");
                addr_tx.send(app.local_addr()).unwrap();
                app.run_until(async {
                    let _ = stop_rx.await;
                })
                .await
                .expect("server runs");
            });
        });
        let addr = addr_rx.recv().expect("server address");
        Server {
            base: format!("http://{addr}"),
            _dir: dir,
            _stop: stop_tx,
        }
    }

    /// The target as the management API shows it to an admin.
    pub fn target(&self, controller_id: &str) -> Option<serde_json::Value> {
        let resp = reqwest::blocking::Client::new()
            .get(format!("{}/rest/v1/targets/{controller_id}", self.base))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .unwrap();
        resp.status().is_success().then(|| resp.json().unwrap())
    }

    /// HTTP status of a device's DDI poll with `token`.
    pub fn ddi_poll_status(&self, controller_id: &str, token: &str) -> u16 {
        reqwest::blocking::Client::new()
            .get(format!(
                "{}/DEFAULT/controller/v1/{controller_id}",
                self.base
            ))
            .header("Authorization", format!("TargetToken {token}"))
            .send()
            .unwrap()
            .status()
            .as_u16()
    }
}
