//! `POST …/webhooks/clerk`: raw body → Svix signature check → user event → customer sync, once per message.
use crate::clerk_webhook::clerk::{ClerkEnvelope, ClerkUser, UserEvent};
use crate::clerk_webhook::deps::Deps;
use crate::clerk_webhook::sync::{apply, Delivery as Sync};
use entitle_core::api_error::ApiError;
use entitle_core::edge;
use entitle_core::webhook::pipeline::{respond, Delivery, Reply, Webhook};
use entitle_core::webhook::svix::{verify, SvixHeaders};
use entitle_domain::ids::{SubjectId, UserId};
use entitle_domain::time::UnixTime;
use lambda_http::{Body, Error, Request, Response};

pub const MAX_BODY_BYTES: usize = 256 * 1024;
const WEBHOOK: Webhook = Webhook {
    name: "clerk",
    route: "/webhooks/clerk",
    max_body_bytes: MAX_BODY_BYTES,
};

pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(handle_at(deps, &request, UnixTime::now()).await)
}

/// The handler with the clock injected.
pub async fn handle_at(deps: &Deps, request: &Request, now: UnixTime) -> Response<Body> {
    respond(process(deps, request, now).await)
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

async fn process(deps: &Deps, request: &Request, now: UnixTime) -> Result<Reply, ApiError> {
    let body = WEBHOOK.body(request)?;
    let headers = svix_headers(request);
    let config = &deps.config;
    WEBHOOK
        .verified(&config.keys, |keys: &Vec<_>| {
            verify(body, &headers, keys, now, config.tolerance)
        })
        .await?;
    let message_id = headers.id.unwrap_or_default();
    let envelope: ClerkEnvelope<'_> =
        serde_json::from_slice(body).map_err(|_| malformed("the body is not a Clerk event"))?;
    WEBHOOK
        .in_span(message_id, &envelope.event_type, async {
            let Some(kind) = UserEvent::parse(&envelope.event_type) else {
                tracing::info!("ignored event type");
                return Ok(Reply::Ignored);
            };
            let clerk_user: ClerkUser = serde_json::from_str(envelope.data.get())
                .map_err(|_| malformed("data is not a Clerk user"))?;
            // A user event names a user: never an organization, whose own events are organization.*.
            let user = UserId::parse(clerk_user.id.as_str())
                .map(SubjectId::from)
                .map_err(|e| malformed(e.to_string()))?;
            if entitle_domain::ids::EventId::parse(message_id).is_err() {
                return Err(malformed("svix-id is not a message id"));
            }
            let delivery = Delivery {
                id: message_id,
                event_type: &envelope.event_type,
                body,
                now,
                lease: config.lease,
            };
            let work = Sync {
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
            let reply = WEBHOOK
                .once(
                    deps.events.as_ref(),
                    delivery,
                    || entitle_core::metrics::count("SyncFailures", 1),
                    || apply(deps, &work),
                )
                .await?;
            if reply == Reply::Received {
                tracing::info!(user_id = %user, "applied");
            }
            Ok(reply)
        })
        .await
}

#[cfg(test)]
mod tests;
