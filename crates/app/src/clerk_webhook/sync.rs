//! What a verified Clerk user or organization event does: keep the subject's one Stripe customer in step,
//! then announce it. An organization is a billing subject like a user: its own customer (`clerkOrgId`),
//! its name as the customer's name, and on deletion the same stop of its subscriptions (`ON_ORG_DELETED`).
//!
//! Errors retrying can fix (Stripe unreachable, 5xx, 429; DynamoDB; SNS) fail the delivery so Svix retries.
//! A Stripe 4xx retrying cannot fix is logged and counted, and the delivery is acknowledged — otherwise Svix
//! would retry it for days; one that leaves a deleted user's subscription billing is dead-lettered too.
use crate::clerk_webhook::clerk::UserEvent;
use crate::clerk_webhook::deps::{Deps, OnUserDeleted};
use crate::customers::{write_profile, ProfileError, ProfileWrite};
use entitle_domain::customers::{ensure_customer, EnsureError, Ensured};
use entitle_domain::event::{
    BillingEvent, EventData, EventType, LinkedData, MembersData, Source, UserData,
};
use entitle_domain::ids::{EventId, StripeCustomerId, SubjectId, SubjectKind};
use entitle_domain::lifecycle::{self, Intent, Stop};
use entitle_domain::ports::{CancelNow, CustomerProfile, PublishError, StoreError, StripeError};
use entitle_domain::time::UnixTime;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Stripe(#[from] StripeError),
    #[error(transparent)]
    Ensure(#[from] EnsureError),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

pub struct Delivery<'a> {
    /// The Svix message id: the published event's id.
    pub message_id: &'a str,
    pub kind: UserEvent,
    pub user: &'a SubjectId,
    /// What the customer should say: a user's primary email and name, an organization's name.
    pub profile: CustomerProfile,
    pub occurred_at: UnixTime,
    pub now: UnixTime,
}

pub async fn apply(deps: &Deps, delivery: &Delivery<'_>) -> Result<(), SyncError> {
    match delivery.kind {
        UserEvent::Created | UserEvent::Updated => upsert(deps, delivery).await,
        UserEvent::Deleted => delete(deps, delivery).await,
    }
}

async fn upsert(deps: &Deps, delivery: &Delivery<'_>) -> Result<(), SyncError> {
    let user = delivery.user;
    let profile = delivery.profile.clone();
    let ensured = match ensure_customer(
        deps.customers.as_ref(),
        deps.stripe_customers.as_ref(),
        user,
    )
    .await
    {
        Ok(ensured) => Some(ensured),
        Err(EnsureError::UserDeleted) => {
            tracing::info!("the user was deleted; not recreating a customer");
            return Ok(());
        }
        Err(error) if !error.is_retryable() => {
            permanent_failure("creating the Stripe customer", &error);
            None
        }
        Err(error) => return Err(error.into()),
    };
    if let Some(ensured) = &ensured {
        sync_profile(deps, delivery, ensured, &profile).await?;
    }
    let organization = delivery.user.kind() == SubjectKind::Organization;
    let event_type = match (delivery.kind, organization) {
        (UserEvent::Created, false) => EventType::UserCreated,
        (_, false) => EventType::UserUpdated,
        (UserEvent::Created, true) => EventType::OrganizationCreated,
        (_, true) => EventType::OrganizationUpdated,
    };
    let customer = ensured.as_ref().map(|e| e.customer.clone());
    let mut events = vec![event(
        delivery,
        delivery.message_id,
        event_type,
        customer.clone(),
        EventData::User(UserData {
            email: profile.email,
            name: profile.name,
        }),
    )?];
    // Announce the link when it is news: on sign-up, or when this event created the customer.
    if let Some(ensured) = ensured {
        if ensured.created || delivery.kind == UserEvent::Created {
            events.push(event(
                delivery,
                &format!("{}-linked", delivery.message_id),
                EventType::CustomerLinked,
                customer,
                EventData::Linked(LinkedData {
                    stripe_customer_id: ensured.customer.to_string(),
                }),
            )?);
        }
    }
    // Both in one request.
    deps.publisher.publish_all(&events).await?;
    Ok(())
}

/// Writes email / name to Stripe only when they differ from what was last written (as `ensure_customer`
/// read it: no second read of the customers table).
async fn sync_profile(
    deps: &Deps,
    delivery: &Delivery<'_>,
    ensured: &Ensured,
    profile: &CustomerProfile,
) -> Result<(), SyncError> {
    let key = format!("entitle-profile-{}", delivery.message_id);
    match write_profile(
        deps.customers.as_ref(),
        deps.stripe_customers.as_ref(),
        delivery.user,
        ensured,
        profile,
        ProfileWrite::Changed,
        &key,
        delivery.now,
    )
    .await
    {
        Ok(_) => Ok(()),
        Err(ProfileError::Stripe(error)) if !error.is_retryable() => {
            permanent_failure("updating the Stripe customer", &error);
            Ok(())
        }
        Err(ProfileError::Stripe(error)) => Err(error.into()),
        Err(ProfileError::Store(error)) => Err(error.into()),
    }
}

async fn delete(deps: &Deps, delivery: &Delivery<'_>) -> Result<(), SyncError> {
    let link = deps.customers.get(delivery.user).await?;
    deps.customers
        .mark_deleted(delivery.user, delivery.now)
        .await?;
    let customer = link.and_then(|l| l.customer);
    let deleted = event(
        delivery,
        delivery.message_id,
        if delivery.user.kind() == SubjectKind::Organization {
            EventType::OrganizationDeleted
        } else {
            EventType::UserDeleted
        },
        customer.clone(),
        EventData::User(UserData {
            email: None,
            name: None,
        }),
    )?;
    let policy = match delivery.user.kind() {
        SubjectKind::User => deps.config.on_user_deleted,
        SubjectKind::Organization => deps.config.on_org_deleted,
    };
    if let (Some(customer), Some(how)) = (&customer, stop_of(policy)) {
        if let Err(error) = stop_charges(deps, customer, how, delivery.message_id).await {
            if error.is_retryable() {
                return Err(error.into());
            }
            // Stripe refused and retrying cannot fix it: the subscription would go on billing a deleted
            // user, so it is never a silent 200 — dead-lettered with the reason, counted and alarmed.
            tracing::error!(error = %error, "Stripe refused to stop the deleted subject's subscriptions; dead-lettering the event");
            entitle_core::metrics::count("SubscriptionStopRefused", 1);
            let body = serde_json::to_string(&deleted).map_err(|e| PublishError {
                event_id: delivery.message_id.to_owned(),
                source: e.into(),
            })?;
            deps.dead_letters
                .dead_letter(
                    &body,
                    &format!(
                        "stopping the deleted {}'s subscriptions: {error}",
                        delivery.user.kind().as_str()
                    ),
                )
                .await?;
        }
    }
    deps.publisher.publish(&deleted).await?;
    Ok(())
}

/// An organization's memberships or invitations changed: the processor recounts its seats from Clerk (so
/// any order and any number of deliveries end on Clerk's true count). Published as
/// `organization.members_changed` for the organization.
pub async fn members_changed(
    deps: &Deps,
    message_id: &str,
    org: &SubjectId,
    clerk_event: String,
    occurred_at: UnixTime,
) -> Result<(), SyncError> {
    let id = EventId::parse(message_id).map_err(|e| PublishError {
        event_id: message_id.to_owned(),
        source: e.into(),
    })?;
    let mut event = BillingEvent::occurred(
        id,
        Source::Clerk,
        EventType::OrganizationMembersChanged,
        occurred_at,
        EventData::Members(MembersData { clerk_event }),
    );
    event.set_subject(org);
    deps.publisher.publish(&event).await?;
    Ok(())
}

fn stop_of(policy: OnUserDeleted) -> Option<Stop> {
    match policy {
        OnUserDeleted::CancelAtPeriodEnd => Some(Stop::AtPeriodEnd),
        OnUserDeleted::CancelNow => Some(Stop::Now(CancelNow::default())),
        OnUserDeleted::Keep => None,
    }
}

/// The same lifecycle code as billing-api's cancel: each subscription that can still bill (plans and
/// add-ons alike) has its schedule released, then is canceled as the policy says. Every redelivery of the
/// event makes the same writes (keys from the message id).
async fn stop_charges(
    deps: &Deps,
    customer: &StripeCustomerId,
    how: Stop,
    message_id: &str,
) -> Result<(), StripeError> {
    let subscriptions = deps.lifecycle.subscriptions(customer.as_str()).await?;
    // Every subscription is tried: one refusal must not leave the others billing. An outage stops at once
    // (the delivery is retried); the first refusal is reported once all were tried.
    let mut refused = None;
    for subscription in subscriptions.iter().filter(|s| lifecycle::can_charge(s)) {
        match lifecycle::stop(
            deps.lifecycle.as_ref(),
            subscription,
            how,
            Intent::Event(message_id),
        )
        .await
        {
            Ok(_) => {
                tracing::info!(subscription_id = %subscription.id, "stopped the deleted user's subscription");
            }
            // A race with another cancel (Stripe answers 404 for a canceled subscription): done if it ended.
            Err(rejected @ StripeError::Rejected { .. }) => {
                let now = deps.lifecycle.subscription(&subscription.id).await?;
                if now.is_some_and(|s| lifecycle::can_charge(&s)) {
                    tracing::error!(subscription_id = %subscription.id, error = %rejected, "Stripe refused to stop a deleted user's subscription");
                    refused.get_or_insert(rejected);
                }
            }
            Err(e) => return Err(e),
        }
    }
    refused.map_or(Ok(()), Err)
}

fn event(
    delivery: &Delivery<'_>,
    id: &str,
    event_type: EventType,
    customer: Option<StripeCustomerId>,
    data: EventData,
) -> Result<BillingEvent, PublishError> {
    let id = EventId::parse(id).map_err(|e| PublishError {
        event_id: id.to_owned(),
        source: e.into(),
    })?;
    let mut event =
        BillingEvent::occurred(id, Source::Clerk, event_type, delivery.occurred_at, data);
    event.set_subject(delivery.user);
    event.stripe_customer_id = customer;
    Ok(event)
}

fn permanent_failure(what: &str, error: &dyn std::error::Error) {
    tracing::error!(error = %error, "{what} failed and retrying cannot fix it; acknowledging the delivery");
    entitle_core::metrics::count("StripePermanentErrors", 1);
}
