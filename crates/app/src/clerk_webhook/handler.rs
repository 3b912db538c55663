//! `POST …/webhooks/clerk`: raw body → Svix signature check → a user's or an organization's event → its
//! customer sync, or an organization's membership event → a seat recount prompt; once per message.
use crate::clerk_webhook::clerk::{
    ClerkEnvelope, ClerkOrganization, ClerkUser, MembersOf, Topic, UserEvent,
};
use crate::clerk_webhook::deps::Deps;
use crate::clerk_webhook::sync::{apply, members_changed, Delivery as Sync};
use entitle_core::api_error::ApiError;
use entitle_core::edge;
use entitle_core::webhook::pipeline::{respond, Delivery, Reply, Webhook};
use entitle_core::webhook::svix::{verify, SvixHeaders};
use entitle_domain::ids::{OrgId, SubjectId, UserId};
use entitle_domain::ports::CustomerProfile;
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
            let Some(topic) = Topic::parse(&envelope.event_type) else {
                tracing::info!("ignored event type");
                return Ok(Reply::Ignored);
            };
            let (subject, work) = read(topic, envelope.data.get())?;
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
            let occurred_at = envelope
                .timestamp
                .map(|ms| UnixTime::from_secs(ms.div_euclid(1000)))
                .unwrap_or(now);
            let reply = WEBHOOK
                .once(
                    deps.events.as_ref(),
                    delivery,
                    || entitle_core::metrics::count("SyncFailures", 1),
                    || async {
                        match work {
                            Work::Customer { kind, profile } => {
                                let sync = Sync {
                                    message_id,
                                    kind,
                                    user: &subject,
                                    profile,
                                    occurred_at,
                                    now,
                                };
                                apply(deps, &sync).await
                            }
                            Work::Members => {
                                let clerk_event = envelope.event_type.clone();
                                members_changed(
                                    deps,
                                    message_id,
                                    &subject,
                                    clerk_event,
                                    occurred_at,
                                )
                                .await
                            }
                        }
                    },
                )
                .await?;
            if reply == Reply::Received {
                tracing::info!(subject = %subject, "applied");
            }
            Ok(reply)
        })
        .await
}

/// What an event asks for.
enum Work {
    /// A user's or an organization's customer kept in step (or its subscriptions stopped, once deleted).
    Customer {
        kind: UserEvent,
        profile: CustomerProfile,
    },
    /// An organization's members or invitations changed: its seats are recounted.
    Members,
}

/// The subject an event is about and the work it asks for; a payload that is not what its type says is the
/// sender's problem (400), never retried.
fn read(topic: Topic, data: &str) -> Result<(SubjectId, Work), ApiError> {
    match topic {
        Topic::User(kind) => {
            let clerk_user: ClerkUser =
                serde_json::from_str(data).map_err(|_| malformed("data is not a Clerk user"))?;
            // A user event names a user: never an organization, whose own events are organization.*.
            let user = UserId::parse(clerk_user.id.as_str())
                .map(SubjectId::from)
                .map_err(|e| malformed(e.to_string()))?;
            let profile = clerk_user.profile();
            Ok((user, Work::Customer { kind, profile }))
        }
        Topic::Organization(kind) => {
            let org: ClerkOrganization = serde_json::from_str(data)
                .map_err(|_| malformed("data is not a Clerk organization"))?;
            let id = OrgId::parse(org.id.as_str())
                .map(SubjectId::from)
                .map_err(|e| malformed(e.to_string()))?;
            let profile = org.profile();
            Ok((id, Work::Customer { kind, profile }))
        }
        Topic::Members(_) => {
            let of: MembersOf = serde_json::from_str(data)
                .map_err(|_| malformed("data is not a Clerk membership or invitation"))?;
            let id = of
                .organization_id()
                .ok_or_else(|| malformed("the membership names no organization"))
                .and_then(|id| OrgId::parse(id).map_err(|e| malformed(e.to_string())))?;
            Ok((SubjectId::from(id), Work::Members))
        }
    }
}

#[cfg(test)]
mod organization_tests;
#[cfg(test)]
mod tests;
