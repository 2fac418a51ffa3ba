//! The one error type of the HTTP layer.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::{artifacts, store};

/// Everything a handler can fail with. Expected failures map to 4xx with a short message;
/// unexpected ones ([`ApiError::Store`], [`ApiError::Artifacts`], [`ApiError::Internal`]) are
/// logged with their cause chain and answered with an opaque 500, so no SQL, path or library
/// detail ever reaches a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no or wrong credentials. `challenge` is the `WWW-Authenticate` value.
    #[error("authentication required")]
    Unauthorized {
        /// Authentication scheme to announce.
        challenge: &'static str,
    },
    /// 403: authenticated but not allowed.
    #[error("forbidden")]
    Forbidden,
    /// 404: no such resource, or not visible to this client (the two are not distinguished,
    /// so a device cannot probe for other devices' actions).
    #[error("not found")]
    NotFound,
    /// 405: the resource exists but this operation is not possible in its state.
    #[error("{0}")]
    MethodNotAllowed(&'static str),
    /// 409: conflicts with existing data or a quota.
    #[error("{0}")]
    Conflict(String),
    /// 410: the action is closed; feedback is no longer accepted.
    #[error("action is no longer active")]
    Gone,
    /// 412: `If-Match` did not match.
    #[error("precondition failed")]
    PreconditionFailed,
    /// 413: upload too large.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 416: no requested range lies within the file of this length.
    #[error("range not satisfiable")]
    RangeNotSatisfiable(u64),
    /// 422: well-formed but semantically invalid (for example a bundle that fails verification).
    #[error("{0}")]
    Unprocessable(String),
    /// 429: rate limit exceeded; retry after the given seconds.
    #[error("too many requests")]
    TooManyRequests(u64),
    /// 500 from the database.
    #[error("database failure")]
    Store(#[source] store::Error),
    /// 500 from artifact storage.
    #[error("artifact storage failure")]
    Artifacts(#[from] artifacts::Error),
    /// 500 from anything else.
    #[error("internal failure")]
    Internal(#[from] anyhow::Error),
}

impl From<store::Error> for ApiError {
    /// Store outcomes that are the client's doing become 4xx; the rest is internal.
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::NotFound(_) => ApiError::NotFound,
            store::Error::Conflict => {
                ApiError::Conflict("a record with the same key already exists".into())
            }
            store::Error::InvalidState(msg) => ApiError::Conflict(msg.into()),
            other => ApiError::Store(other),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    error_code: &'a str,
    message: String,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone => StatusCode::GONE,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Store(_) | ApiError::Artifacts(_) | ApiError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed(_) => "not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::Gone => "gone",
            ApiError::PreconditionFailed => "precondition_failed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::RangeNotSatisfiable(_) => "range_not_satisfiable",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::TooManyRequests(_) => "too_many_requests",
            ApiError::Store(_) | ApiError::Artifacts(_) | ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // `{:#}`-style chain via anyhow for the log; the client only sees the opaque text.
            let chain = anyhow::Error::from(self);
            tracing::error!(error = format!("{chain:#}"), "request failed");
            let body = ErrorBody {
                error_code: "internal",
                message: "internal server error".into(),
            };
            return (status, axum::Json(body)).into_response();
        }
        let mut resp = (
            status,
            axum::Json(ErrorBody {
                error_code: self.code(),
                message: self.to_string(),
            }),
        )
            .into_response();
        let headers = resp.headers_mut();
        match self {
            ApiError::Unauthorized { challenge } => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            ApiError::RangeNotSatisfiable(len) => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    headers.insert(header::CONTENT_RANGE, v);
                }
            }
            ApiError::TooManyRequests(secs) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            _ => {}
        }
        resp
    }
}
