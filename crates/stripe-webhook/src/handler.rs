//! `POST …/webhooks/stripe`: raw body → signature check → envelope → normalized event → published once.
use crate::deps::Deps;
use entitle_core::api_error::ApiError;
use entitle_core::edge;
use entitle_core::stripe_events::{normalize, Normalized};
use entitle_core::webhook::stripe::{verify, VerifyError};
use entitle_core::webhook::SignatureError;
use entitle_domain::once::{run_once, Once, OnceError};
use entitle_domain::ports::ClaimRequest;
use entitle_domain::time::UnixTime;
use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use std::net::IpAddr;
use tracing::Instrument;

/// Stripe's events are far smaller; anything larger is not from Stripe.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
const ROUTE: &str = "/webhooks/stripe";

pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(handle_at(deps, &request, UnixTime::now()).await)
}

/// The handler with the clock injected.
pub async fn handle_at(deps: &Deps, request: &Request, now: UnixTime) -> Response<Body> {
    match process(deps, request, now).await {
        Ok(reply) => edge::json(StatusCode::OK, reply.body()),
        Err(error) => edge::error(&error),
    }
}

enum Reply {
    Received,
    Duplicate,
    Ignored,
}

impl Reply {
    fn body(&self) -> &'static str {
        match self {
            Reply::Received => r#"{"received":true}"#,
            Reply::Duplicate => r#"{"received":true,"duplicate":true}"#,
            Reply::Ignored => r#"{"received":true,"ignored":true}"#,
        }
    }
}

async fn process(deps: &Deps, request: &Request, now: UnixTime) -> Result<Reply, ApiError> {
    let body = edge::webhook_body(request, ROUTE, MAX_BODY_BYTES)?;
    if let Some(allowed) = &deps.config.allowed_ips {
        if !source_ip(request).is_some_and(|ip| allowed.contains(&ip)) {
            tracing::warn!("webhook from an address outside STRIPE_WEBHOOK_IPS");
            return Err(ApiError::forbidden(
                "forbidden_source",
                "source address not allowed",
            ));
        }
    }
    let signature = edge::header(request, "stripe-signature");
    let config = &deps.config;
    let secrets = config.secrets.current().await.map_err(|not_set| {
        tracing::error!(error = %not_set, "cannot verify Stripe webhooks");
        ApiError::not_configured()
    })?;
    let mut verified = verify(body, signature, &secrets, now, config.tolerance);
    if let Err(VerifyError::Signature(SignatureError::Mismatch)) = verified {
        // Perhaps the signing secret was rolled: read it again (rate-limited) before refusing.
        if let Some(fresh) = config.secrets.refresh().await {
            verified = verify(body, signature, &fresh, now, config.tolerance);
        }
    }
    let envelope = verified.map_err(|e| {
        tracing::warn!(reason = %e, "rejected a Stripe webhook");
        entitle_core::metrics::count("SignatureFailures", 1);
        match e {
            VerifyError::Signature(s) => ApiError::bad_request(s.code(), s.to_string()),
            VerifyError::Malformed(_) => {
                ApiError::bad_request("malformed_payload", "the body is not a Stripe event")
            }
        }
    })?;
    entitle_core::metrics::count_by_type("EventsReceived", &envelope.event_type, 1);
    let span = tracing::info_span!("stripe_event", event_id = %envelope.id, event_type = %envelope.event_type);
    async {
        let event = match normalize(&envelope) {
            Ok(Normalized::Event(event)) => event,
            Ok(Normalized::Ignored) => {
                tracing::info!("ignored event type");
                return Ok(Reply::Ignored);
            }
            Err(e) => {
                tracing::warn!(reason = %e, "signed event with an unexpected shape");
                return Err(ApiError::bad_request("malformed_payload", e.to_string()));
            }
        };
        let key = format!("stripe#{}", envelope.id);
        let claim = ClaimRequest {
            key: &key,
            event_type: &envelope.event_type,
            // Verified above; Stripe only sends UTF-8 JSON.
            payload: std::str::from_utf8(body).unwrap_or_default(),
            now,
            lease: config.lease,
        };
        match run_once(deps.events.as_ref(), &claim, || {
            deps.publisher.publish(&event)
        })
        .await
        {
            Ok(Once::Done) => {
                tracing::info!(
                    user_id = event.user_id.as_ref().map_or("", |u| u.as_str()),
                    "published"
                );
                Ok(Reply::Received)
            }
            Ok(Once::Duplicate) => {
                tracing::info!("duplicate delivery acknowledged");
                entitle_core::metrics::count("DuplicateDeliveries", 1);
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
                tracing::error!(error = ?e, "publishing failed; claim released");
                entitle_core::metrics::count("PublishFailures", 1);
                Err(ApiError::unavailable())
            }
        }
    }
    .instrument(span)
    .await
}

fn source_ip(request: &Request) -> Option<IpAddr> {
    let ip = match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(c) => c.identity.source_ip.as_deref(),
        RequestContext::ApiGatewayV2(c) => c.http.source_ip.as_deref(),
        #[allow(unreachable_patterns)]
        _ => None,
    }?;
    ip.parse().ok()
}

#[cfg(test)]
mod tests;
