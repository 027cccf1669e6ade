//! [`ApiError`]: every REST failure, rendered as one JSON shape
//! `{"error": {"code", "message", "field"?, "step"?, "details"?}}`, and [`ApiJson`], a JSON body
//! extractor whose rejections are such errors (`422`, field `body`).

use std::borrow::Cow;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One REST failure; `IntoResponse` gives the status and the JSON error body.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422: a field is invalid.
    #[error("{field}: {message}")]
    Unprocessable {
        /// Dotted path of the field (`to_number`, `bot_ids[1]`, `pipeline.llm.model`).
        field: Cow<'static, str>,
        /// What is wrong.
        message: String,
    },
    /// 422 for a bot field, with the dashboard wizard step the field belongs to.
    #[error("{field}: {message}")]
    UnprocessableStep {
        /// Dotted path of the field.
        field: Cow<'static, str>,
        /// What is wrong.
        message: String,
        /// Wizard step (`identity`, `prompt`, `voice`, `behavior`, `tools`, `integrations`).
        step: &'static str,
    },
    /// 400: the request cannot be understood.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 401: no or invalid credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403: authenticated, but not allowed.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404: no such resource (or not visible to the caller).
    #[error("not found: {0}")]
    NotFound(String),
    /// 409: refused because of the resource's state; `details` says why (e.g. running campaigns).
    #[error("conflict: {message}")]
    Conflict {
        /// What conflicts.
        message: String,
        /// Machine-readable details (`{"campaigns": [{"id", "name"}]}`), `null` for none.
        details: Value,
    },
    /// 413: the request body is over the route's limit.
    #[error("payload too large: {0}")]
    TooLarge(String),
    /// 429: too many attempts (login throttling).
    #[error("too many requests: {0}")]
    TooManyRequests(String),
    /// 503: a dependency (fleet, dataplane) cannot serve now.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug or a storage failure; the message is generic (details are logged, not returned).
    #[error("internal: {0}")]
    Internal(String),
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 422 for `field`.
    pub fn field(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> ApiError {
        ApiError::Unprocessable {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unprocessable { .. } | ApiError::UnprocessableStep { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `code` of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unprocessable { .. } | ApiError::UnprocessableStep { .. } => "unprocessable",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict { .. } => "conflict",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::TooManyRequests(_) => "too_many_requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The JSON body (`{"error": {...}}`).
    pub fn body(&self) -> Value {
        let mut e = json!({ "code": self.code() });
        match self {
            ApiError::Unprocessable { field, message } => {
                e["field"] = json!(field);
                e["message"] = json!(message);
            }
            ApiError::UnprocessableStep { field, message, step } => {
                e["field"] = json!(field);
                e["message"] = json!(message);
                e["step"] = json!(step);
            }
            ApiError::Conflict { message, details } => {
                e["message"] = json!(message);
                if !details.is_null() {
                    e["details"] = details.clone();
                }
            }
            ApiError::BadRequest(m)
            | ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::TooLarge(m)
            | ApiError::TooManyRequests(m)
            | ApiError::Unavailable(m) => e["message"] = json!(m),
            ApiError::Internal(_) => e["message"] = json!("internal error"),
        }
        json!({ "error": e })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(detail = %detail, "internal error");
        }
        (self.status(), axum::Json(self.body())).into_response()
    }
}

impl From<cxb_model::FieldError> for ApiError {
    fn from(e: cxb_model::FieldError) -> ApiError {
        ApiError::Unprocessable {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        match &e {
            sqlx::Error::RowNotFound => ApiError::NotFound("not found".into()),
            sqlx::Error::Database(d) if d.is_unique_violation() => ApiError::Conflict {
                message: "already exists".into(),
                details: Value::Null,
            },
            _ => ApiError::Internal(format!("database: {e}")),
        }
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> ApiError {
        ApiError::Internal(format!("stored JSON: {e}"))
    }
}

/// `axum::Json` whose rejection is an [`ApiError`]: 422 with field `body` (or the JSON path serde
/// reports) instead of axum's plain-text answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => {
                let text = e.body_text();
                // axum's text: "Failed to deserialize the JSON body into the target type: path: msg".
                let rest = text.split_once("type: ").map_or(text.as_str(), |(_, r)| r);
                let (field, message) = match rest.split_once(": ") {
                    Some((f, m)) if !f.contains(' ') && f != "." => (f.to_owned(), m.to_owned()),
                    _ => ("body".to_owned(), rest.to_owned()),
                };
                Err(ApiError::field(field, message))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::BadRequest("expected Content-Type: application/json".into()))
            }
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::TooLarge(e.body_text())),
            Err(e) => Err(ApiError::field("body", e.body_text())),
        }
    }
}

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A JSON request body whose parse error is kept, not raised, so a handler can check who is
/// asking first: a caller without the right scope gets 401/403/404, never a 422 that reveals
/// the endpoint's body format. [`Body::into_inner`] gives the body or the 422 of [`ApiJson`].
#[derive(Debug)]
pub struct Body<T>(Result<T, ApiError>);

impl<T> Body<T> {
    /// The parsed body, or the error that parsing it gave.
    pub fn into_inner(self) -> ApiResult<T> {
        self.0
    }
}

impl<T, S> FromRequest<S> for Body<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Body(ApiJson::<T>::from_request(req, state).await.map(|ApiJson(v)| v)))
    }
}
