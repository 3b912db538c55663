//! CORS lives in the function (not the HTTP API), so `cargo lambda watch`, function URLs and API Gateway all
//! answer browsers the same way. Only origins in `ALLOWED_ORIGINS` get the headers.
use crate::redirect::AllowedOrigins;
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};

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
            HeaderValue::from_static("authorization, content-type"),
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
        // The `__session` cookie is a credential.
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}
