//! The JSON error every function answers with: `{"error":{"code","message"}}`. Statuses are chosen at the
//! edge (each handler); this is only the shape.
use serde::Serialize;
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: Cow<'static, str>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 503: our dependency or store failed; the sender should retry.
    pub fn unavailable() -> Self {
        Self::new(503, "unavailable", "try again")
    }

    /// 503: a secret this needs has not been stored yet (a new stack before `entitle setup`); the sender
    /// retries, and the function picks the value up without a redeploy.
    pub fn not_configured() -> Self {
        Self::new(
            503,
            "not_configured",
            "this deployment is not fully set up yet; try again later",
        )
    }

    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(400, code, message)
    }

    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(401, "unauthorized", message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(403, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(404, code, message)
    }

    pub fn method_not_allowed(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(405, "method_not_allowed", message)
    }

    /// 409: a conflict the caller can resolve, or a retry-later while another copy is in flight.
    pub fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(409, code, message)
    }

    pub fn payload_too_large(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(413, "payload_too_large", message)
    }

    /// 502: a provider refused what we asked of it.
    pub fn bad_gateway(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(502, code, message)
    }

    /// A 5xx: the sender should retry.
    pub fn is_retryable(&self) -> bool {
        self.status >= 500
    }

    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Body<'a> {
            error: Inner<'a>,
        }
        #[derive(Serialize)]
        struct Inner<'a> {
            code: &'a str,
            message: &'a str,
        }
        serde_json::to_string(&Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        })
        .expect("serializing two strings cannot fail")
    }
}
