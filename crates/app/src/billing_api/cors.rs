//! CORS lives in the function (not the HTTP API), so `cargo lambda watch`, function URLs and API Gateway all
//! answer browsers the same way. Only origins in `ALLOWED_ORIGINS` get the headers.
use crate::billing_api::redirect::AllowedOrigins;
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use std::sync::OnceLock;

/// The request headers a preflight allows when `CORS_ALLOWED_HEADERS` is unset: what the API reads, and the
/// tracing headers browser SDKs (OpenTelemetry, Sentry) add to `fetch` — one missing here fails the
/// preflight, and with it the call.
pub const DEFAULT_ALLOWED_HEADERS: &str =
    "authorization, content-type, idempotency-key, if-none-match, \
traceparent, tracestate, baggage, sentry-trace, x-request-id";
/// The answer headers page scripts may read when `CORS_EXPOSED_HEADERS` is unset.
pub const DEFAULT_EXPOSED_HEADERS: &str = "etag, retry-after, www-authenticate";

/// A comma-separated header list from `variable` (else `default`), normalised to `a, b, c` once per cold
/// start. A value that is not a valid list falls back to the default, with a warning.
fn header_list(
    cell: &'static OnceLock<HeaderValue>,
    variable: &str,
    default: &'static str,
) -> &'static HeaderValue {
    cell.get_or_init(|| {
        let normalised = |list: &str| {
            list.split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let configured = entitle_core::config::optional(variable)
            .map(|list| normalised(&list))
            .filter(|list| !list.is_empty());
        match configured.map(HeaderValue::try_from) {
            Some(Ok(value)) => value,
            Some(Err(_)) => {
                tracing::warn!(variable, "not a header list; using the default");
                HeaderValue::try_from(normalised(default)).expect("the default is valid")
            }
            None => HeaderValue::try_from(normalised(default)).expect("the default is valid"),
        }
    })
}

pub fn allowed_headers() -> &'static HeaderValue {
    static CELL: OnceLock<HeaderValue> = OnceLock::new();
    header_list(&CELL, "CORS_ALLOWED_HEADERS", DEFAULT_ALLOWED_HEADERS)
}

pub fn exposed_headers() -> &'static HeaderValue {
    static CELL: OnceLock<HeaderValue> = OnceLock::new();
    header_list(&CELL, "CORS_EXPOSED_HEADERS", DEFAULT_EXPOSED_HEADERS)
}

pub fn preflight(request: &Request, allowed: &AllowedOrigins) -> Response<Body> {
    let mut response = Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::Empty)
        .expect("static parts are valid");
    decorate(request, allowed, &mut response);
    if response
        .headers()
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    {
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            allowed_headers().clone(),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    response
}

/// Adds the CORS headers to any response when the request comes from an allowed origin.
pub fn decorate(request: &Request, allowed: &AllowedOrigins, response: &mut Response<Body>) {
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return;
    };
    if origin.to_str().is_ok_and(|o| allowed.allows_origin(o)) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        // Credentialed requests (a same-site cookie on a custom domain) may read the answer too.
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            exposed_headers().clone(),
        );
    }
}
