//! The one webhook pipeline, Stripe's and Clerk's: the body (route, size), the signature (with a re-read of
//! the signing secrets on a mismatch, for a secret just rolled), the span and metrics, the claim, the work
//! run once, and the reply. Each webhook supplies only its verify + parse and its work.
use super::SignatureError;
use crate::api_error::ApiError;
use crate::edge;
use crate::secrets::Rotating;
use entitle_domain::once::{run_once, Once, OnceError};
use entitle_domain::ports::{ClaimRequest, EventLog};
use entitle_domain::time::UnixTime;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use std::future::Future;
use std::time::Duration;
use tracing::Instrument;

/// A webhook: its name (in logs, the dedup key `name#id`, the span `name_event`), route and body limit.
#[derive(Debug, Clone, Copy)]
pub struct Webhook {
    pub name: &'static str,
    pub route: &'static str,
    pub max_body_bytes: usize,
}

/// What a delivery is answered with (200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Received,
    Duplicate,
    Ignored,
}

impl Reply {
    pub fn body(self) -> &'static str {
        match self {
            Reply::Received => r#"{"received":true}"#,
            Reply::Duplicate => r#"{"received":true,"duplicate":true}"#,
            Reply::Ignored => r#"{"received":true,"ignored":true}"#,
        }
    }
}

/// The HTTP response for a delivery's outcome.
pub fn respond(outcome: Result<Reply, ApiError>) -> Response<Body> {
    match outcome {
        Ok(reply) => edge::json(StatusCode::OK, reply.body()),
        Err(error) => edge::error(&error),
    }
}

/// A verification failure: a signature that does not match (worth re-reading the secrets for) or another
/// refusal, answered 400.
pub trait Refusal: std::fmt::Display {
    fn is_mismatch(&self) -> bool;
    fn to_api_error(&self) -> ApiError;
}

impl Refusal for SignatureError {
    fn is_mismatch(&self) -> bool {
        *self == SignatureError::Mismatch
    }
    fn to_api_error(&self) -> ApiError {
        ApiError::bad_request(self.code(), self.to_string())
    }
}

impl Refusal for crate::stripe::signature::VerifyError {
    fn is_mismatch(&self) -> bool {
        matches!(
            self,
            crate::stripe::signature::VerifyError::Signature(SignatureError::Mismatch)
        )
    }
    fn to_api_error(&self) -> ApiError {
        match self {
            crate::stripe::signature::VerifyError::Signature(s) => s.to_api_error(),
            crate::stripe::signature::VerifyError::Malformed(_) => {
                ApiError::bad_request("malformed_payload", "the body is not a Stripe event")
            }
        }
    }
}

impl Webhook {
    /// The request's body, on this webhook's route and within its size.
    pub fn body<'r>(&self, request: &'r Request) -> Result<&'r [u8], ApiError> {
        edge::webhook_body(request, self.route, self.max_body_bytes)
    }

    /// `verify` with the current signing secrets, and once more with freshly read ones (rate-limited) when no
    /// signature matched. A refusal is counted (`SignatureFailures`) and answered 400; secrets that cannot be
    /// read at all are our failure (500).
    pub async fn verified<S, T, E: Refusal>(
        &self,
        secrets: &Rotating<S>,
        verify: impl Fn(&S) -> Result<T, E>,
    ) -> Result<T, ApiError> {
        let current = secrets.current().await.map_err(|not_set| {
            tracing::error!(error = %not_set, webhook = self.name, "cannot verify webhooks");
            ApiError::not_configured()
        })?;
        let mut verified = verify(&current);
        if matches!(&verified, Err(e) if e.is_mismatch()) {
            // Perhaps the signing secret was rolled: read it again before refusing.
            if let Some(fresh) = secrets.refresh().await {
                verified = verify(&fresh);
            }
        }
        verified.map_err(|e| {
            tracing::warn!(reason = %e, webhook = self.name, "rejected a webhook");
            crate::metrics::count("SignatureFailures", 1);
            e.to_api_error()
        })
    }

    /// Runs `handle` for a verified delivery inside the delivery's span, counted by type (`EventsReceived`).
    pub async fn in_span<F: Future<Output = Result<Reply, ApiError>>>(
        &self,
        delivery_id: &str,
        event_type: &str,
        handle: F,
    ) -> Result<Reply, ApiError> {
        crate::metrics::count_by_type("EventsReceived", event_type, 1);
        let span = tracing::info_span!("webhook_event", webhook = self.name, event_id = %delivery_id, event_type = %event_type);
        handle.instrument(span).await
    }

    /// The delivery's work, once per delivery id: claimed in the event log (`name#id`, the verified body
    /// kept), run, and marked done; a failed run releases the claim so the sender's retry runs it. Duplicates
    /// are counted (`DuplicateDeliveries`); a failed run calls `failed` (the webhook counts its metric) and
    /// is answered 503.
    pub async fn once<F, Fut, E>(
        &self,
        log: &dyn EventLog,
        delivery: Delivery<'_>,
        failed: impl FnOnce(),
        work: F,
    ) -> Result<Reply, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::error::Error + 'static,
    {
        let key = format!("{}#{}", self.name, delivery.id);
        let claim = ClaimRequest {
            key: &key,
            event_type: delivery.event_type,
            // Verified above; both senders only send UTF-8 JSON.
            payload: std::str::from_utf8(delivery.body).unwrap_or_default(),
            now: delivery.now,
            lease: delivery.lease,
        };
        // Test-only (crate::crash): the delivery is claimed and its work not yet done.
        let work = || {
            crate::crash::point("claimed");
            work()
        };
        match run_once(log, &claim, work).await {
            Ok(Once::Done) => Ok(Reply::Received),
            Ok(Once::Duplicate) => {
                tracing::info!("duplicate delivery acknowledged");
                crate::metrics::count("DuplicateDeliveries", 1);
                Ok(Reply::Duplicate)
            }
            Ok(Once::InProgress) => {
                tracing::info!("another delivery is in progress");
                Err(ApiError::conflict(
                    "in_progress",
                    "this event is being processed; retry later",
                ))
            }
            Err(OnceError::Store(e)) => {
                tracing::error!(error = ?e, "idempotency store failed");
                Err(ApiError::unavailable())
            }
            Err(OnceError::Work(e)) => {
                tracing::error!(error = ?e, "the delivery's work failed; claim released for the retry");
                failed();
                Err(ApiError::unavailable())
            }
        }
    }
}

/// One verified delivery, as claimed.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The sender's id of the delivery (Stripe's event id, Svix's message id).
    pub id: &'a str,
    pub event_type: &'a str,
    pub body: &'a [u8],
    pub now: UnixTime,
    /// How long a claim holds before another delivery may take it over.
    pub lease: Duration,
}
