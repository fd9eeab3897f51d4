//! Errors of the HTTP API: a status code and a JSON body that says what went
//! wrong, which field, and what to do.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::api::ErrorBody;

/// An HTTP error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    retry_after: Option<u64>,
    authenticate: bool,
}

impl ApiError {
    /// An answer with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody { error: message.into(), field: None },
            retry_after: None,
            authenticate: false,
        }
    }

    /// 422: the body parsed but `field` is not acceptable.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{field}: {}", message.into()));
        e.body.field = Some(field.to_owned());
        e
    }

    /// 400: the body is not JSON of the right shape; `field` is where it broke.
    pub fn malformed(field: Option<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let text = match &field {
            Some(f) => format!("{f}: {message}"),
            None => message,
        };
        let mut e = ApiError::new(StatusCode::BAD_REQUEST, text);
        e.body.field = field;
        e
    }

    /// 401 with a `WWW-Authenticate: Bearer` challenge.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        let mut e = ApiError::new(StatusCode::UNAUTHORIZED, message);
        e.authenticate = true;
        e
    }

    /// 404 for a job id.
    pub fn no_job(id: &str) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, format!("no scan {id:?} on this server"))
    }

    /// 429 with `Retry-After`.
    pub fn busy(message: impl Into<String>, retry_after: u64) -> Self {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, message);
        e.retry_after = Some(retry_after);
        e
    }

    /// 500 for a store failure; the message says what failed.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {err}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error: {err}"))
    }

    /// The message of the body.
    pub fn message(&self) -> &str {
        &self.body.error
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.authenticate {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"kscan\""));
        }
        response
    }
}

impl From<crate::Error> for ApiError {
    fn from(err: crate::Error) -> Self {
        ApiError::internal(err)
    }
}
