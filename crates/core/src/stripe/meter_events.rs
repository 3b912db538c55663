//! Billing meter events (`POST /v1/billing/meter_events`) for overage: no async-stripe crate in our set has
//! them, so they go through its generic `RequestBuilder`, over the same transport and error rule as every
//! other Stripe call. The identifier is also the idempotency key: a retry within Stripe's idempotency window
//! replays the first answer; after it, Stripe refuses a second event with the same identifier, which is the
//! proof that the first one was recorded.
use super::catalog::form;
use super::client::{idempotent, StripeClient};
use async_trait::async_trait;
use entitle_domain::ports::{MeterEvent, Reported, StripeError, UsageMeter};
use stripe_client_core::StripeMethod;

#[derive(miniserde::Deserialize)]
struct MeterEventView {
    #[allow(dead_code)]
    identifier: String,
}

/// Stripe's answer to a second event with an identifier it has seen: `400 An event already exists with
/// identifier …` (invalid_request_error, not retryable).
fn already_recorded(error: &StripeError) -> bool {
    matches!(error, StripeError::Rejected { status: 400, message, .. }
        if message.contains("already exists with identifier"))
}

#[async_trait]
impl UsageMeter for StripeClient {
    async fn report(&self, event: &MeterEvent) -> Result<Reported, StripeError> {
        let value = event.value.to_string();
        let timestamp = event.timestamp.secs().to_string();
        let request = form(
            StripeMethod::Post,
            "/billing/meter_events",
            &[
                ("event_name", &event.event_name),
                ("identifier", &event.identifier),
                ("payload[stripe_customer_id]", event.customer.as_str()),
                ("payload[value]", &value),
                ("timestamp", &timestamp),
            ],
        );
        let sent: Result<MeterEventView, StripeError> =
            match idempotent(request.customize(), &event.identifier) {
                Ok(request) => request.send(self).await.map_err(StripeError::from),
                Err(e) => Err(e),
            };
        match sent {
            Ok(_) => Ok(Reported::Recorded),
            Err(e) if already_recorded(&e) => Ok(Reported::AlreadyRecorded),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stripes_duplicate_identifier_refusal_counts_as_recorded() {
        let duplicate = StripeError::Rejected {
            status: 400,
            code: String::new(),
            message: "An event already exists with identifier entitle_ab12.".into(),
        };
        assert!(already_recorded(&duplicate));
        let other = StripeError::Rejected {
            status: 400,
            code: "no_meter".into(),
            message: "No active meter found for event_name `entitle_x`.".into(),
        };
        assert!(!already_recorded(&other));
        assert!(!already_recorded(&StripeError::Unavailable(
            "timeout".into()
        )));
    }
}
