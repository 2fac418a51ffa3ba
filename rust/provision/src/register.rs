//! Pre-registration on the update server: one `POST /rest/v1/targets` per
//! device, with its serial as controller id and name and its token, so the
//! device is known (and can be given a rollout) before it first polls.

use std::time::Duration;

use serde::Serialize;

use crate::token::Token;

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{0}: target already exists on the server (remove it there, or provision this device again with its old token)")]
    Exists(String),
    #[error("{controller_id}: the server refused the credentials (HTTP {status}): check the user, the password, and that the user is an admin")]
    Unauthorized { controller_id: String, status: u16 },
    #[error("{controller_id}: the server answered HTTP {status}: {body}")]
    Status {
        controller_id: String,
        status: u16,
        body: String,
    },
    #[error("{controller_id}: cannot reach the server: {source}")]
    Http {
        controller_id: String,
        source: reqwest::Error,
    },
    #[error("invalid server URL '{0}'")]
    BadUrl(String),
}

/// Management API credentials (HTTP Basic).
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NewTarget<'a> {
    controller_id: &'a str,
    name: &'a str,
    security_token: &'a str,
}

pub struct Registrar {
    client: reqwest::blocking::Client,
    endpoint: String,
    credentials: Credentials,
}

impl Registrar {
    /// `server` is the base URL, e.g. `https://updates.example.com`.
    pub fn new(server: &str, credentials: Credentials) -> Result<Registrar, RegisterError> {
        let base = server.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(RegisterError::BadUrl(server.into()));
        }
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|source| RegisterError::Http {
                controller_id: String::new(),
                source,
            })?;
        Ok(Registrar {
            client,
            endpoint: format!("{base}/rest/v1/targets"),
            credentials,
        })
    }

    pub fn register(&self, controller_id: &str, token: &Token) -> Result<(), RegisterError> {
        let body = [NewTarget {
            controller_id,
            name: controller_id,
            security_token: token.expose(),
        }];
        let resp = self
            .client
            .post(&self.endpoint)
            .basic_auth(&self.credentials.user, Some(&self.credentials.password))
            .json(&body)
            .send()
            .map_err(|source| RegisterError::Http {
                controller_id: controller_id.into(),
                source: source.without_url(),
            })?;
        let status = resp.status().as_u16();
        match status {
            200 | 201 => Ok(()),
            409 => Err(RegisterError::Exists(controller_id.into())),
            401 | 403 => Err(RegisterError::Unauthorized {
                controller_id: controller_id.into(),
                status,
            }),
            _ => {
                let mut body = resp.text().unwrap_or_default();
                // The answer never contains the token we sent, but be sure.
                body = body.replace(token.expose(), "<hidden>");
                body.truncate(400);
                Err(RegisterError::Status {
                    controller_id: controller_id.into(),
                    status,
                    body,
                })
            }
        }
    }
}
