//! Lambda HTTP requests in each shape API Gateway and function URLs deliver, built from real fixtures.
use base64::Engine;
use lambda_http::Request;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// API Gateway REST API (payload v1).
    RestV1,
    /// API Gateway HTTP API (payload v2).
    HttpV2,
    /// Lambda function URL.
    FunctionUrl,
}

pub const ALL_SHAPES: [Shape; 3] = [Shape::RestV1, Shape::HttpV2, Shape::FunctionUrl];

pub struct RequestSpec<'a> {
    pub shape: Shape,
    pub method: &'a str,
    pub path: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub body: &'a [u8],
    /// Deliver the body base64-encoded, as API Gateway does for binary media types.
    pub base64: bool,
    pub source_ip: &'a str,
}

impl<'a> RequestSpec<'a> {
    pub fn post(path: &'a str, body: &'a [u8]) -> Self {
        Self {
            shape: Shape::HttpV2,
            method: "POST",
            path,
            headers: vec![("content-type", "application/json".into())],
            body,
            base64: false,
            source_ip: "54.187.174.169",
        }
    }

    pub fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn shape(mut self, shape: Shape) -> Self {
        self.shape = shape;
        self
    }

    pub fn base64(mut self, base64: bool) -> Self {
        self.base64 = base64;
        self
    }

    pub fn method(mut self, method: &'a str) -> Self {
        self.method = method;
        self
    }

    pub fn source_ip(mut self, ip: &'a str) -> Self {
        self.source_ip = ip;
        self
    }

    pub fn build(&self) -> Request {
        let file = match self.shape {
            Shape::RestV1 => "apigw/rest-v1.json",
            Shape::HttpV2 => "apigw/http-v2.json",
            Shape::FunctionUrl => "apigw/function-url.json",
        };
        let mut event = crate::fixtures::json(file);
        let body = if self.base64 {
            base64::engine::general_purpose::STANDARD.encode(self.body)
        } else {
            String::from_utf8(self.body.to_vec()).expect("a text body")
        };
        event["body"] = body.into();
        event["isBase64Encoded"] = self.base64.into();
        let mut headers = serde_json::Map::new();
        let mut multi = serde_json::Map::new();
        for (name, value) in &self.headers {
            headers.insert((*name).to_owned(), value.clone().into());
            multi.insert((*name).to_owned(), vec![value.clone()].into());
        }
        event["headers"] = headers.into();
        match self.shape {
            Shape::RestV1 => {
                event["multiValueHeaders"] = multi.into();
                event["httpMethod"] = self.method.into();
                event["path"] = self.path.into();
                event["requestContext"]["httpMethod"] = self.method.into();
                event["requestContext"]["identity"]["sourceIp"] = self.source_ip.into();
            }
            Shape::HttpV2 | Shape::FunctionUrl => {
                event["rawPath"] = self.path.into();
                event["requestContext"]["http"]["method"] = self.method.into();
                event["requestContext"]["http"]["path"] = self.path.into();
                event["requestContext"]["http"]["sourceIp"] = self.source_ip.into();
                if self.shape == Shape::HttpV2 {
                    event["routeKey"] = format!("{} {}", self.method, self.path).into();
                }
            }
        }
        lambda_http::request::from_str(&event.to_string()).expect("a valid Lambda HTTP event")
    }
}

/// Keeps a billing-api response (`route` = the last path segment) in `$SAMPLES_DIR/api` for
/// scripts/check_samples.py, which checks it against docs/openapi.yaml (and, for the routes it defines,
/// docs/schemas/billing-api.schema.json).
pub fn record_api_response(path: &str, status: u16, body: &serde_json::Value) {
    let Some(dir) = crate::fixtures::samples_dir("api") else {
        return;
    };
    let path = path.split('?').next().unwrap_or_default();
    let mut segments = path.trim_end_matches('/').rsplit('/');
    let route = match (segments.next().unwrap_or_default(), segments.next()) {
        (action @ ("cancel" | "resume" | "change"), Some("subscription")) => {
            format!("subscription_{action}")
        }
        ("history", Some("entitlements")) => "entitlements_history".to_owned(),
        (last, _) => last.to_owned(),
    };
    let known = [
        "checkout",
        "portal",
        "entitlements",
        "usage",
        "subscription_cancel",
        "subscription_resume",
        "subscription_change",
        "plans",
        "entitlements_history",
    ];
    if !known.contains(&route.as_str()) || body.is_null() {
        return;
    }
    let sample = serde_json::json!({ "route": route, "status": status, "body": body });
    let name = crate::fixtures::unique_id("response-");
    let _ = std::fs::write(dir.join(format!("{name}.json")), sample.to_string());
}

/// Keeps a usage-api response in `$SAMPLES_DIR/usage-api` (`{"method", "path", "status", "body"}`, the path
/// as requested, query included) for scripts/check_samples.py, which checks it against the operation of
/// docs/openapi.yaml that the path and method name.
pub fn record_usage_response(method: &str, path: &str, status: u16, body: &serde_json::Value) {
    let Some(dir) = crate::fixtures::samples_dir("usage-api") else {
        return;
    };
    if body.is_null() {
        return;
    }
    let sample =
        serde_json::json!({ "method": method, "path": path, "status": status, "body": body });
    let name = crate::fixtures::unique_id("response-");
    let _ = std::fs::write(dir.join(format!("{name}.json")), sample.to_string());
}

/// Records a request body a test sent and the status it was answered with (`$SAMPLES_DIR/requests/`), so that
/// `scripts/check_samples.py` can check every body the functions accepted against the route's `requestBody`
/// in docs/openapi.yaml. Text that is not JSON is not recorded.
pub fn record_request(method: &str, path: &str, text: &str, status: u16) {
    let Some(dir) = crate::fixtures::samples_dir("requests") else {
        return;
    };
    let Ok(body) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let sample =
        serde_json::json!({ "method": method, "path": path, "status": status, "body": body });
    let name = crate::fixtures::unique_id("request-");
    let _ = std::fs::write(dir.join(format!("{name}.json")), sample.to_string());
}
