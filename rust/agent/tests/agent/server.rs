//! The real hawkbit-compat-server, in process on an ephemeral port, with
//! helpers to arrange deployments through its store.

use hawkbit_compat_server::config::{Cli, Config};
use hawkbit_compat_server::secret::Secret;
use hawkbit_compat_server::startup::Application;
use hawkbit_compat_server::store::{
    ActionState, ActionType, AssignOptions, NewArtifact, NewDistributionSet, NewSoftwareModule,
    NewTarget, Store,
};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Server {
    pub base: String,
    pub store: Store,
    artifacts: hawkbit_compat_server::artifacts::ArtifactStore,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::load(Cli::default()).expect("default config");
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.data_dir = dir.path().join("data");
        config.database_url = format!("sqlite://{}", dir.path().join("data/server.db").display());
        config.rate_limit = 0;
        config.admin_password = Some(Secret::new("admin-password-for-tests"));
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
        Server {
            base,
            store,
            artifacts,
            _dir: dir,
            _stop: tx,
        }
    }

    pub async fn target(&self, controller: &str) -> String {
        let token = format!("token-of-{controller}");
        self.store
            .create_target(&NewTarget {
                controller_id: controller.into(),
                name: controller.into(),
                description: String::new(),
                security_token: Secret::new(token.clone()),
            })
            .await
            .unwrap();
        token
    }

    /// Assigns a distribution set holding `bundle` to `controller`; returns the action id.
    pub async fn assign(
        &self,
        controller: &str,
        bundle: &std::path::Path,
        version: &str,
        action_type: ActionType,
    ) -> i64 {
        self.assign_with(
            controller,
            bundle,
            version,
            &AssignOptions::of_type(action_type),
        )
        .await
    }

    /// Like [`Server::assign`], with every assignment option.
    pub async fn assign_with(
        &self,
        controller: &str,
        bundle: &std::path::Path,
        version: &str,
        opts: &AssignOptions,
    ) -> i64 {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let target = self
            .store
            .target_by_controller_id(controller)
            .await
            .unwrap()
            .unwrap();
        let module = self
            .store
            .create_software_module(&NewSoftwareModule {
                name: format!("os-{n}"),
                version: version.into(),
                module_type: "os".into(),
                vendor: String::new(),
                description: String::new(),
            })
            .await
            .unwrap();
        let content = bytes::Bytes::from(std::fs::read(bundle).unwrap());
        let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(content)]);
        let stored = self.artifacts.store_stream(stream, u64::MAX).await.unwrap();
        self.store
            .add_artifact(&NewArtifact {
                software_module_id: module.software_module_id,
                filename: bundle.file_name().unwrap().to_string_lossy().into_owned(),
                sha1: stored.sha1,
                md5: stored.md5,
                sha256: stored.sha256,
                size: stored.size,
                bundle: None,
            })
            .await
            .unwrap();
        let ds = self
            .store
            .create_distribution_set(&NewDistributionSet {
                name: format!("release-{n}"),
                version: version.into(),
                description: String::new(),
                module_ids: vec![module.software_module_id],
            })
            .await
            .unwrap();
        self.store
            .assign_with(target.target_id, ds.distribution_set_id, opts)
            .await
            .unwrap()
            .action_id
    }

    /// The set-up most tests share: target `dev1`, and release 2.0.0
    /// (`u.raucb`, compatible, payload seed 5) assigned to it with `opts`.
    /// Returns the target's token and the action.
    pub async fn release_for_dev1(
        &self,
        dev: &crate::helpers::Device,
        opts: &AssignOptions,
    ) -> (String, i64) {
        let token = self.target("dev1").await;
        let bundle = dev.bundle("u.raucb", "2.0.0", crate::helpers::COMPATIBLE, 5);
        let action = self.assign_with("dev1", &bundle, "2.0.0", opts).await;
        (token, action)
    }

    pub async fn state(&self, action: i64) -> ActionState {
        self.store.action(action).await.unwrap().unwrap().state
    }

    /// Every message the device sent for the action, oldest first.
    pub async fn messages(&self, action: i64) -> Vec<String> {
        let mut h = self.store.action_history(action, 1000).await.unwrap();
        h.reverse();
        h.into_iter().flat_map(|e| e.messages).collect()
    }
}
