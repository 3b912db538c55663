//! `POST …/webhooks/stripe`: raw body → signature check → envelope → normalized event → published once.
use crate::stripe_webhook::deps::Deps;
use entitle_core::api_error::ApiError;
use entitle_core::edge;
use entitle_core::stripe::events::{normalize, Normalized};
use entitle_core::stripe::signature::verify;
use entitle_core::webhook::pipeline::{respond, Delivery, Reply, Webhook};
use entitle_domain::time::UnixTime;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use std::net::IpAddr;

/// Stripe's events are far smaller; anything larger is not from Stripe.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
const WEBHOOK: Webhook = Webhook {
    name: "stripe",
    route: "/webhooks/stripe",
    max_body_bytes: MAX_BODY_BYTES,
};

pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(handle_at(deps, &request, UnixTime::now()).await)
}

/// The handler with the clock injected.
pub async fn handle_at(deps: &Deps, request: &Request, now: UnixTime) -> Response<Body> {
    respond(process(deps, request, now).await)
}

async fn process(deps: &Deps, request: &Request, now: UnixTime) -> Result<Reply, ApiError> {
    let body = WEBHOOK.body(request)?;
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
    let envelope = WEBHOOK
        .verified(&config.secrets, |secrets: &Vec<_>| {
            verify(body, signature, secrets, now, config.tolerance)
        })
        .await?;
    WEBHOOK
        .in_span(&envelope.id, &envelope.event_type, async {
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
            let delivery = Delivery {
                id: &envelope.id,
                event_type: &envelope.event_type,
                body,
                now,
                lease: config.lease,
            };
            let reply = WEBHOOK
                .once(
                    deps.events.as_ref(),
                    delivery,
                    || entitle_core::metrics::count("PublishFailures", 1),
                    || deps.publisher.publish(&event),
                )
                .await?;
            if reply == Reply::Received {
                tracing::info!(
                    user_id = event.user_id.as_ref().map_or("", |u| u.as_str()),
                    "published"
                );
            }
            Ok(reply)
        })
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
