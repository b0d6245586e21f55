//! Errors as HTTP answers: the status the gRPC services answer (or would: [`Error`] goes
//! through the same `into_status`), read back from its rich details into one JSON body:
//!
//! ```json
//! {"error": {"code": "INVALID_ARGUMENT", "reason": "SQLITE_ERROR", "message": "…",
//!            "sqlite_code": 1, "fields": [{"field": "sql", "description": "…"}],
//!            "retryable": false, "retry_after_ms": null, "request_id": "…"}}
//! ```
//!
//! The HTTP status follows the standard mapping of gRPC codes (google.rpc.Code) to HTTP; a
//! body past `--max-message-bytes` is 413 and a call of a writing statement with GET is 405.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::error::Error;

/// The HTTP status of a gRPC code (google.rpc.Code's mapping).
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A request field as the HTTP body names it: gRPC's `statement.params[0]` is `params[0]`,
/// `statement.named_params["a"]` is `params["a"]`.
fn http_field(field: &str) -> String {
    let field = field.strip_prefix("statement.").unwrap_or(field);
    let field = if field == "statement" { "sql" } else { field };
    field.replace("named_params", "params")
}

/// The JSON body of `status` (request id `request_id` unless its details carry one).
pub fn body(status: &Status, request_id: &str) -> serde_json::Value {
    let details = status.get_error_details();
    let info = details.error_info();
    let meta = |key: &str| info.and_then(|i| i.metadata.get(key));
    let fields: Vec<serde_json::Value> = details
        .bad_request()
        .map(|b| {
            b.field_violations
                .iter()
                .map(|v| json!({"field": http_field(&v.field), "description": v.description}))
                .collect()
        })
        .unwrap_or_default();
    let retry_after_ms = details
        .retry_info()
        .and_then(|r| r.retry_delay)
        .map(|d| d.as_millis() as u64);
    json!({"error": {
        "code": crate::metrics::code_name(status.code()),
        "reason": info.map_or_else(|| crate::metrics::code_name(status.code()).to_string(), |i| i.reason.clone()),
        "message": status.message(),
        "sqlite_code": meta("sqlite_code").and_then(|c| c.parse::<i64>().ok()),
        "fields": fields,
        "retryable": meta("retryable").is_some_and(|r| r == "true") || retry_after_ms.is_some(),
        "retry_after_ms": retry_after_ms,
        "request_id": meta("request_id").map_or(request_id, String::as_str),
    }})
}

/// The answer for `status`.
pub fn respond(status: &Status, request_id: &str) -> Response {
    respond_as(http_status(status.code()), status, request_id)
}

/// The answer for `status` with the HTTP status `http`.
pub fn respond_as(http: StatusCode, status: &Status, request_id: &str) -> Response {
    let body = body(status, request_id);
    let retry = body["error"]["retry_after_ms"].as_u64();
    let mut response = (
        http,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(ms) = retry {
        // Retry-After is in whole seconds.
        let secs = ms.div_ceil(1000).max(1);
        if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response.extensions_mut().insert(status.code());
    response
}

/// The answer for a server error (the same mapping as gRPC's).
pub fn error(err: Error, request_id: &str) -> Response {
    respond(&err.into_status(Some(request_id)), request_id)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn fields_and_statuses() {
        assert_eq!(http_field("statement.params[2]"), "params[2]");
        assert_eq!(http_field("statement.named_params[\"a\"]"), "params[\"a\"]");
        assert_eq!(http_field("statements[3].sql"), "statements[3].sql");
        assert_eq!(http_field("args.age"), "args.age");
        assert_eq!(
            http_status(Code::ResourceExhausted),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(http_status(Code::Cancelled).as_u16(), 499);
        let err = Error::Sqlite {
            code: 2067,
            message: "UNIQUE constraint failed: t.id".into(),
            field: None,
        };
        let body = body(&err.into_status(Some("r1")), "other");
        assert_eq!(body["error"]["code"], "ALREADY_EXISTS");
        assert_eq!(body["error"]["reason"], "SQLITE_CONSTRAINT_UNIQUE");
        assert_eq!(body["error"]["sqlite_code"], 2067);
        assert_eq!(body["error"]["request_id"], "r1");
        assert_eq!(body["error"]["retryable"], false);
    }
}
