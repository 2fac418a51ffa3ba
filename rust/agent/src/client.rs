//! The DDI conversation over HTTP, with the wire types of `ota-ddi`.
//!
//! Links the server sends are followed by their path only, resolved against
//! the configured server URL: the device's token is never sent to a host
//! other than the one it was configured for, whatever a response says.

use ota_ddi::{
    ActionFeedback, ActionId, CancelActionBase, ConfigData, ControllerBase, DeploymentBase,
};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Failure of one request.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer (connection refused, reset, timeout).
    #[error("{url}: {source}")]
    Transport {
        /// The URL.
        url: String,
        /// The cause.
        source: reqwest::Error,
    },
    /// An HTTP error status.
    #[error("{url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: StatusCode,
    },
    /// A body that is not what DDI promises.
    #[error("{url}: unexpected response: {message}")]
    Decode {
        /// The URL.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// A link that cannot be used.
    #[error("invalid link {0:?}")]
    Link(String),
}

impl ClientError {
    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Result alias.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// How the device authenticates.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: TargetToken <token>`.
    Target(String),
    /// `Authorization: GatewayToken <token>`.
    Gateway(String),
    /// Nothing (servers with auth switched off; tests).
    None,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::Target(_) => "TargetToken(<redacted>)",
            Auth::Gateway(_) => "GatewayToken(<redacted>)",
            Auth::None => "None",
        })
    }
}

impl Auth {
    /// The header value, marked sensitive so it is never logged.
    pub fn header(&self) -> Option<HeaderValue> {
        let v = match self {
            Auth::Target(t) => format!("TargetToken {t}"),
            Auth::Gateway(t) => format!("GatewayToken {t}"),
            Auth::None => return None,
        };
        let mut h = HeaderValue::from_str(&v).ok()?;
        h.set_sensitive(true);
        Some(h)
    }
}

/// A DDI client for one device.
#[derive(Debug, Clone)]
pub struct DdiClient {
    http: reqwest::Client,
    origin: url::Url,
    tenant: String,
    controller_id: String,
    auth: Auth,
}

impl DdiClient {
    /// A client for `server_url` (its origin and any path prefix are kept).
    pub fn new(
        server_url: &str,
        tenant: &str,
        controller_id: &str,
        auth: Auth,
        ca_pem: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<DdiClient> {
        let mut origin =
            url::Url::parse(server_url).map_err(|_| ClientError::Link(server_url.into()))?;
        if !origin.path().ends_with('/') {
            let p = format!("{}/", origin.path());
            origin.set_path(&p);
        }
        let mut b = reqwest::Client::builder()
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .user_agent(concat!("update-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_pem {
            let cert = reqwest::Certificate::from_pem(pem).map_err(|e| ClientError::Transport {
                url: server_url.into(),
                source: e,
            })?;
            b = b.add_root_certificate(cert);
        }
        let http = b.build().map_err(|e| ClientError::Transport {
            url: server_url.into(),
            source: e,
        })?;
        Ok(DdiClient {
            http,
            origin,
            tenant: tenant.into(),
            controller_id: controller_id.into(),
            auth,
        })
    }

    /// The authentication (for handing to RAUC when it streams).
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The controller id.
    pub fn controller_id(&self) -> &str {
        &self.controller_id
    }

    /// Absolute URL for a DDI path (leading `/` optional).
    pub fn url_for_path(&self, path_and_query: &str) -> Result<url::Url> {
        self.origin
            .join(path_and_query.trim_start_matches('/'))
            .map_err(|_| ClientError::Link(path_and_query.into()))
    }

    /// Resolves a link from a response: only its path and query are used.
    pub fn resolve(&self, href: &str) -> Result<url::Url> {
        let link = url::Url::parse(href)
            .or_else(|_| self.origin.join(href))
            .map_err(|_| ClientError::Link(href.into()))?;
        let mut pq = link.path().to_string();
        if let Some(q) = link.query() {
            pq.push('?');
            pq.push_str(q);
        }
        // Links carry the full path; keep only our origin's scheme/host/port.
        let mut u = self.origin.clone();
        u.set_path("");
        let out = u.join(&pq).map_err(|_| ClientError::Link(href.into()))?;
        Ok(out)
    }

    fn request(&self, method: reqwest::Method, url: url::Url) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, url);
        if let Some(h) = self.auth.header() {
            r = r.header(AUTHORIZATION, h);
        }
        r
    }

    async fn send(&self, r: reqwest::RequestBuilder, url: &url::Url) -> Result<reqwest::Response> {
        let resp = r.send().await.map_err(|source| ClientError::Transport {
            url: url.to_string(),
            source,
        })?;
        if !resp.status().is_success() {
            return Err(ClientError::Status {
                url: url.to_string(),
                status: resp.status(),
            });
        }
        Ok(resp)
    }

    async fn get_json<T: DeserializeOwned>(&self, url: url::Url) -> Result<T> {
        let resp = self
            .send(
                self.request(reqwest::Method::GET, url.clone())
                    .header("Accept", "application/hal+json, application/json"),
                &url,
            )
            .await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|source| ClientError::Transport {
                url: url.to_string(),
                source,
            })?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            url: url.to_string(),
            message: e.to_string(),
        })
    }

    async fn send_json<T: serde::Serialize>(
        &self,
        method: reqwest::Method,
        url: url::Url,
        body: &T,
    ) -> Result<()> {
        self.send(self.request(method, url.clone()).json(body), &url)
            .await?;
        Ok(())
    }

    /// The base poll.
    pub async fn poll(&self) -> Result<ControllerBase> {
        let url = self.url_for_path(&ota_ddi::paths::controller_base(
            &self.tenant,
            &self.controller_id,
        ))?;
        self.get_json(url).await
    }

    /// Sends the device's attributes.
    pub async fn put_config_data(&self, data: &ConfigData) -> Result<()> {
        let url = self.url_for_path(&ota_ddi::paths::config_data(
            &self.tenant,
            &self.controller_id,
        ))?;
        self.send_json(reqwest::Method::PUT, url, data).await
    }

    /// Follows a `deploymentBase` link.
    pub async fn deployment(&self, href: &str) -> Result<DeploymentBase> {
        self.get_json(self.resolve(href)?).await
    }

    /// Follows a `cancelAction` link.
    pub async fn cancel_action(&self, href: &str) -> Result<CancelActionBase> {
        self.get_json(self.resolve(href)?).await
    }

    /// Follows a `confirmationBase/{actionId}` link: the action waiting for consent.
    pub async fn confirmation(&self, href: &str) -> Result<ota_ddi::ConfirmationBaseAction> {
        self.get_json(self.resolve(href)?).await
    }

    /// Confirms or denies a waiting action.
    pub async fn confirmation_feedback(
        &self,
        action: u64,
        fb: &ota_ddi::ConfirmationFeedback,
    ) -> Result<()> {
        let url = self.url_for_path(&ota_ddi::paths::confirmation_feedback(
            &self.tenant,
            &self.controller_id,
            ActionId(action),
        ))?;
        self.send_json(reqwest::Method::POST, url, fb).await
    }

    /// Follows a `deviceConfig` link.
    pub async fn device_config(&self, href: &str) -> Result<ota_ddi::DeviceConfig> {
        self.get_json(self.resolve(href)?).await
    }

    /// Confirms (or reports failing to apply) a configuration revision.
    pub async fn device_config_applied(&self, report: &ota_ddi::AppliedConfig) -> Result<()> {
        let url = self.url_for_path(&ota_ddi::paths::device_config_applied(
            &self.tenant,
            &self.controller_id,
        ))?;
        self.send_json(reqwest::Method::PUT, url, report).await
    }

    /// Reports on a deployment.
    pub async fn feedback(&self, action: u64, fb: &ActionFeedback) -> Result<()> {
        let url = self.url_for_path(&ota_ddi::paths::deployment_feedback(
            &self.tenant,
            &self.controller_id,
            ActionId(action),
        ))?;
        self.send_json(reqwest::Method::POST, url, fb).await
    }

    /// Answers a cancel request.
    pub async fn cancel_feedback(&self, action: u64, fb: &ActionFeedback) -> Result<()> {
        let url = self.url_for_path(&ota_ddi::paths::cancel_feedback(
            &self.tenant,
            &self.controller_id,
            ActionId(action),
        ))?;
        self.send_json(reqwest::Method::POST, url, fb).await
    }

    /// Starts a GET for a download, from byte `from` on.
    pub(crate) async fn get_range(&self, url: &url::Url, from: u64) -> Result<reqwest::Response> {
        let mut r = self.request(reqwest::Method::GET, url.clone());
        if from > 0 {
            r = r.header("Range", format!("bytes={from}-"));
        }
        let resp = r.send().await.map_err(|source| ClientError::Transport {
            url: url.to_string(),
            source,
        })?;
        if resp.status().is_success() || resp.status() == StatusCode::RANGE_NOT_SATISFIABLE {
            Ok(resp)
        } else {
            Err(ClientError::Status {
                url: url.to_string(),
                status: resp.status(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_never_leave_the_configured_server() {
        let c = DdiClient::new(
            "https://updates.example.com/ota",
            "DEFAULT",
            "dev1",
            Auth::None,
            None,
            Duration::from_secs(5),
        )
        .unwrap();
        let u = c
            .resolve("http://evil.example.net/ota/DEFAULT/controller/v1/dev1/deploymentBase/3?c=5")
            .unwrap();
        assert_eq!(
            u.as_str(),
            "https://updates.example.com/ota/DEFAULT/controller/v1/dev1/deploymentBase/3?c=5"
        );
        let u = c.url_for_path("/DEFAULT/controller/v1/dev1").unwrap();
        assert_eq!(
            u.as_str(),
            "https://updates.example.com/ota/DEFAULT/controller/v1/dev1"
        );
        assert_eq!(
            format!("{:?}", Auth::Target("secret".into())),
            "TargetToken(<redacted>)"
        );
    }
}
