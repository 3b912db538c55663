//! `SubscriptionLifecycle` on the Stripe API: cancel (at the period end or now), resume, the invoice preview of
//! a plan change and the change itself, with async-stripe's typed requests.
use super::client::{answer_as, idempotent, path_segment, StripeClient};
use super::objects::{expandable_id, Invoice, Subscription};
use async_trait::async_trait;
use entitle_domain::ids::StripeCustomerId;
use entitle_domain::ports::{
    CancelNow, InvoicePreview, ItemDetails, PeriodEndChange, PlanChange, PreviewLine, Proration,
    ScheduledChange, SeatQuantity, StartPreview, StripeBilling, StripeError, SubscriptionDetails,
    SubscriptionLifecycle,
};
use stripe_billing::invoice::{
    CreatePreviewInvoice, CreatePreviewInvoiceSubscriptionDetails,
    CreatePreviewInvoiceSubscriptionDetailsItems,
    CreatePreviewInvoiceSubscriptionDetailsProrationBehavior as PreviewProration,
};
use stripe_billing::subscription::{
    CancelSubscription, RetrieveSubscription, UpdateSubscription, UpdateSubscriptionItems,
    UpdateSubscriptionProrationBehavior as UpdateProration,
};
use stripe_shared::SubscriptionId;

fn update_proration(proration: Proration) -> UpdateProration {
    match proration {
        Proration::CreateProrations => UpdateProration::CreateProrations,
        Proration::None => UpdateProration::None,
        Proration::AlwaysInvoice => UpdateProration::AlwaysInvoice,
    }
}

fn details(subscription: &Subscription) -> Result<SubscriptionDetails, StripeError> {
    let first = subscription.items.data.first().ok_or_else(|| {
        StripeError::Unavailable(format!("subscription {} has no items", subscription.id).into())
    })?;
    let customer = expandable_id(&subscription.customer).ok_or_else(|| {
        StripeError::Unavailable(
            format!("subscription {} names no customer", subscription.id).into(),
        )
    })?;
    Ok(SubscriptionDetails {
        id: subscription.id.clone(),
        customer: customer.to_owned(),
        status: subscription.status.clone(),
        items: subscription
            .items
            .data
            .iter()
            .map(|item| ItemDetails {
                id: item.id.clone(),
                price_id: item.price.id.clone(),
                lookup_key: item.price.lookup_key.clone(),
                catalog_id: item
                    .price
                    .metadata
                    .as_ref()
                    .and_then(|m| m.get("entitle").cloned()),
                quantity: item.quantity.unwrap_or(1),
                metered: item.price.is_metered(),
            })
            .collect(),
        cancel_at_period_end: subscription.cancel_at_period_end,
        // Since 2025-03-31 the period lives on the items (they share one billing cycle).
        current_period_end: Some(first.current_period_end),
        trial_end: subscription.trial_end,
        user: subscription.metadata.get("userId").cloned(),
        schedule: subscription
            .schedule
            .as_ref()
            .and_then(expandable_id)
            .map(str::to_owned),
        writes: subscription
            .metadata
            .get(WRITES)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    })
}

/// The metadata key of Entitle's write counter (see [`SubscriptionDetails::writes`]).
const WRITES: &str = "entitleWrites";

fn writes_metadata(writes: u64) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([(WRITES.to_owned(), writes.to_string())])
}

fn preview(invoice: &Invoice) -> InvoicePreview {
    InvoicePreview {
        currency: invoice.currency.clone(),
        amount_due: invoice.amount_due,
        total: invoice.total,
        next_payment_attempt: invoice.next_payment_attempt,
        lines: invoice
            .lines
            .data
            .iter()
            .map(|line| PreviewLine {
                description: line.description.clone(),
                amount: line.amount,
                proration: line.parent.as_ref().is_some_and(|parent| {
                    parent
                        .subscription_item_details
                        .as_ref()
                        .is_some_and(|d| d.proration)
                        || parent
                            .invoice_item_details
                            .as_ref()
                            .is_some_and(|d| d.proration)
                }),
            })
            .collect(),
    }
}

fn id(subscription: &str) -> SubscriptionId {
    SubscriptionId::from(path_segment(subscription))
}

#[async_trait]
impl SubscriptionLifecycle for StripeClient {
    async fn subscription(&self, id: &str) -> Result<Option<SubscriptionDetails>, StripeError> {
        match answer_as::<Subscription>(&RetrieveSubscription::new(path_segment(id)))
            .send(self)
            .await
            .map_err(StripeError::from)
        {
            Ok(subscription) => Ok(Some(details(&subscription)?)),
            Err(StripeError::Rejected { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn subscriptions(&self, customer: &str) -> Result<Vec<SubscriptionDetails>, StripeError> {
        let Ok(customer) = StripeCustomerId::parse(customer) else {
            return Ok(Vec::new());
        };
        self.subscriptions_of(&customer)
            .await?
            .iter()
            .map(details)
            .collect()
    }

    async fn set_cancel_at_period_end(
        &self,
        subscription: &str,
        cancel: bool,
        writes: u64,
        idempotency_key: &str,
    ) -> Result<SubscriptionDetails, StripeError> {
        let request = UpdateSubscription::new(id(subscription))
            .cancel_at_period_end(cancel)
            .metadata(writes_metadata(writes));
        let updated: Subscription = idempotent(answer_as(&request), idempotency_key)?
            .send(self)
            .await?;
        details(&updated)
    }

    async fn cancel_now(
        &self,
        subscription: &str,
        options: CancelNow,
        idempotency_key: &str,
    ) -> Result<SubscriptionDetails, StripeError> {
        let request = CancelSubscription::new(id(subscription))
            .prorate(options.prorate)
            .invoice_now(options.invoice_now);
        let canceled: Subscription = idempotent(answer_as(&request), idempotency_key)?
            .send(self)
            .await?;
        details(&canceled)
    }

    async fn preview_plan_change(
        &self,
        change: &PlanChange<'_>,
    ) -> Result<InvoicePreview, StripeError> {
        let mut item = CreatePreviewInvoiceSubscriptionDetailsItems::new();
        item.id = Some(change.item_id.to_owned());
        item.price = Some(change.price_id.to_owned());
        item.quantity = Some(change.quantity);
        let mut subscription = CreatePreviewInvoiceSubscriptionDetails::new();
        subscription.items = Some(vec![item]);
        subscription.proration_behavior = Some(match change.proration {
            Proration::CreateProrations => PreviewProration::CreateProrations,
            Proration::None => PreviewProration::None,
            Proration::AlwaysInvoice => PreviewProration::AlwaysInvoice,
        });
        // A preview creates nothing, so it needs no idempotency key.
        let request = CreatePreviewInvoice::new()
            .subscription(change.subscription)
            .subscription_details(subscription);
        let invoice: Invoice = answer_as(&request).send(self).await?;
        Ok(preview(&invoice))
    }

    async fn preview_start(&self, start: &StartPreview<'_>) -> Result<InvoicePreview, StripeError> {
        let items = start
            .items
            .iter()
            .map(|phase_item| {
                let mut item = CreatePreviewInvoiceSubscriptionDetailsItems::new();
                item.price = Some(phase_item.price.clone());
                item.quantity = phase_item.quantity;
                item
            })
            .collect();
        let mut subscription = CreatePreviewInvoiceSubscriptionDetails::new();
        subscription.items = Some(items);
        subscription.start_date = Some(start.start);
        // A preview creates nothing, so it needs no idempotency key.
        let request = CreatePreviewInvoice::new()
            .customer(start.customer)
            .subscription_details(subscription);
        let invoice: Invoice = answer_as(&request).send(self).await?;
        Ok(preview(&invoice))
    }

    /// `POST /v1/subscriptions/{id}` with one item: `items[0][id]` + `[quantity]` for the existing seat item,
    /// or `items[0][price]` + `[quantity]` to add it (Stripe refuses a second item of the same price).
    async fn set_seat_quantity(
        &self,
        change: &SeatQuantity<'_>,
        idempotency_key: &str,
    ) -> Result<SubscriptionDetails, StripeError> {
        let mut item = UpdateSubscriptionItems::new();
        item.quantity = Some(change.quantity);
        match change.item_id {
            Some(id) => item.id = Some(id.to_owned()),
            None => {
                let price = StripeBilling::price_for_lookup_key(self, change.lookup_key)
                    .await?
                    .ok_or_else(|| StripeError::Rejected {
                        status: 400,
                        code: "resource_missing".into(),
                        message: format!(
                            "no active price has the seat lookup key {} (run entitle catalog apply)",
                            change.lookup_key
                        ),
                    })?;
                item.price = Some(price);
            }
        }
        let request = UpdateSubscription::new(id(change.subscription))
            .items(vec![item])
            .proration_behavior(update_proration(change.proration));
        let updated: Subscription = idempotent(answer_as(&request), idempotency_key)?
            .send(self)
            .await?;
        details(&updated)
    }

    async fn change_plan(
        &self,
        change: &PlanChange<'_>,
        idempotency_key: &str,
    ) -> Result<SubscriptionDetails, StripeError> {
        let mut item = UpdateSubscriptionItems::new();
        item.id = Some(change.item_id.to_owned());
        item.price = Some(change.price_id.to_owned());
        item.quantity = Some(change.quantity);
        let request = UpdateSubscription::new(id(change.subscription))
            .items(vec![item])
            .metadata(writes_metadata(change.writes))
            .proration_behavior(update_proration(change.proration));
        let updated: Subscription = idempotent(answer_as(&request), idempotency_key)?
            .send(self)
            .await?;
        details(&updated)
    }

    async fn scheduled_change(
        &self,
        schedule: &str,
    ) -> Result<Option<ScheduledChange>, StripeError> {
        self.next_scheduled_change(schedule).await
    }

    async fn schedule_plan_change(
        &self,
        change: &PeriodEndChange<'_>,
        idempotency_key: &str,
    ) -> Result<ScheduledChange, StripeError> {
        self.schedule_change_at_period_end(change, idempotency_key)
            .await
    }

    async fn release_schedule(
        &self,
        schedule: &str,
        idempotency_key: &str,
    ) -> Result<(), StripeError> {
        self.release(schedule, idempotency_key).await
    }
}
