//! The HTTP edge shared by the functions: route matching whatever the path prefix (API Gateway stage,
//! function URL, `cargo lambda watch`'s `/lambda-url/<function>`), body limits and JSON replies. Errors become
//! statuses here and nowhere deeper.
use crate::api_error::ApiError;
use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};

/// Whether `path` ends with `route` (e.g. `/webhooks/stripe`), ignoring a trailing slash.
pub fn route_is(request: &Request, route: &str) -> bool {
    request.uri().path().trim_end_matches('/').ends_with(route)
}

/// The checks every webhook makes before reading a byte of the body: route, method, size.
pub fn webhook_body<'r>(
    request: &'r Request,
    route: &str,
    max_bytes: usize,
) -> Result<&'r [u8], ApiError> {
    if !route_is(request, route) {
        return Err(ApiError::not_found("not_found", "no such route"));
    }
    if request.method() != Method::POST {
        return Err(ApiError::method_not_allowed("use POST"));
    }
    let body: &[u8] = request.body().as_ref();
    if body.len() > max_bytes {
        return Err(ApiError::payload_too_large(format!(
            "the body exceeds {} KiB",
            max_bytes / 1024
        )));
    }
    Ok(body)
}

/// A header's value as text, if present and valid.
pub fn header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

pub fn json(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(body.into()))
        .expect("static parts are valid")
}

/// The JSON error reply, with the headers its status calls for.
pub fn error(error: &ApiError) -> Response<Body> {
    if error.status >= 500 {
        // A 5xx is an answer, not a Lambda error: without this count no alarm would see it.
        crate::metrics::count("ServerErrors", 1);
    }
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json(status, error.to_json());
    let headers = response.headers_mut();
    match error.status {
        401 => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        405 => {
            headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        409 | 503 => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        }
        _ => {}
    }
    response
}
