//! `POST …/webhooks/clerk`: raw body → Svix signature check → user event → customer sync, once per message.
use crate::clerk::{ClerkEnvelope, ClerkUser, UserEvent};
use crate::deps::Deps;
use crate::sync::{apply, Delivery};
use entitle_core::api_error::ApiError;
use entitle_core::edge;
use entitle_core::webhook::svix::{verify, SvixHeaders};
use entitle_core::webhook::SignatureError;
use entitle_domain::ids::UserId;
use entitle_domain::once::{run_once, Once, OnceError};
use entitle_domain::ports::ClaimRequest;
use entitle_domain::time::UnixTime;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use tracing::Instrument;

pub const MAX_BODY_BYTES: usize = 256 * 1024;
const ROUTE: &str = "/webhooks/clerk";

pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(handle_at(deps, &request, UnixTime::now()).await)
}

/// The handler with the clock injected.
pub async fn handle_at(deps: &Deps, request: &Request, now: UnixTime) -> Response<Body> {
    match process(deps, request, now).await {
        Ok(body) => edge::json(StatusCode::OK, body),
        Err(error) => edge::error(&error),
    }
}

fn svix_headers(request: &Request) -> SvixHeaders<'_> {
    let either = |svix: &str, plain: &str| {
        edge::header(request, svix).or_else(|| edge::header(request, plain))
    };
    SvixHeaders {
        id: either("svix-id", "webhook-id"),
        timestamp: either("svix-timestamp", "webhook-timestamp"),
        signature: either("svix-signature", "webhook-signature"),
    }
}

fn malformed(message: impl Into<std::borrow::Cow<'static, str>>) -> ApiError {
    ApiError::bad_request("malformed_payload", message)
}

async fn process(deps: &Deps, request: &Request, now: UnixTime) -> Result<&'static str, ApiError> {
    let body = edge::webhook_body(request, ROUTE, MAX_BODY_BYTES)?;
    let headers = svix_headers(request);
    let config = &deps.config;
    let keys = config.keys.current().await.map_err(|not_set| {
        tracing::error!(error = %not_set, "cannot verify Clerk webhooks");
        ApiError::not_configured()
    })?;
    let mut verified = verify(body, &headers, &keys, now, config.tolerance);
    if let Err(SignatureError::Mismatch) = verified {
        // Perhaps the signing secret was rolled: read it again (rate-limited) before refusing.
        if let Some(fresh) = config.keys.refresh().await {
            verified = verify(body, &headers, &fresh, now, config.tolerance);
        }
    }
    verified.map_err(|e| {
        tracing::warn!(reason = %e, "rejected a Clerk webhook");
        entitle_core::metrics::count("SignatureFailures", 1);
        ApiError::bad_request(e.code(), e.to_string())
    })?;
    let message_id = headers.id.unwrap_or_default();
    let envelope: ClerkEnvelope<'_> =
        serde_json::from_slice(body).map_err(|_| malformed("the body is not a Clerk event"))?;
    entitle_core::metrics::count_by_type("EventsReceived", &envelope.event_type, 1);
    let span = tracing::info_span!("clerk_event", event_id = %message_id, event_type = %envelope.event_type);
    async {
        let Some(kind) = UserEvent::parse(&envelope.event_type) else {
            tracing::info!("ignored event type");
            return Ok(r#"{"received":true,"ignored":true}"#);
        };
        let clerk_user: ClerkUser = serde_json::from_str(envelope.data.get())
            .map_err(|_| malformed("data is not a Clerk user"))?;
        let user = UserId::parse(clerk_user.id.as_str()).map_err(|e| malformed(e.to_string()))?;
        if entitle_domain::ids::EventId::parse(message_id).is_err() {
            return Err(malformed("svix-id is not a message id"));
        }
        let key = format!("clerk#{message_id}");
        let claim = ClaimRequest {
            key: &key,
            event_type: &envelope.event_type,
            payload: std::str::from_utf8(body).unwrap_or_default(),
            now,
            lease: config.lease,
        };
        let delivery = Delivery {
            message_id,
            kind,
            user: &user,
            clerk_user: &clerk_user,
            occurred_at: envelope
                .timestamp
                .map(|ms| UnixTime::from_secs(ms.div_euclid(1000)))
                .unwrap_or(now),
            now,
        };
        match run_once(deps.events.as_ref(), &claim, || apply(deps, &delivery)).await {
            Ok(Once::Done) => {
                tracing::info!(user_id = %user, "applied");
                Ok(r#"{"received":true}"#)
            }
            Ok(Once::Duplicate) => Ok(r#"{"received":true,"duplicate":true}"#),
            Ok(Once::InProgress) => Err(ApiError::conflict(
                "in_progress",
                "this message is being processed; retry later",
            )),
            Err(OnceError::Store(e)) => {
                tracing::error!(error = ?e, "idempotency store failed");
                Err(ApiError::unavailable())
            }
            Err(OnceError::Work(e)) => {
                tracing::error!(error = ?e, "sync failed; claim released for the retry");
                Err(ApiError::unavailable())
            }
        }
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests;
