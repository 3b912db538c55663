//! The normalized billing event: the public contract of the billing-events topic (docs/events.md).
use crate::ids::{EventId, StripeCustomerId, SubjectId};
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Stripe,
    Clerk,
    Entitle,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Stripe => "stripe",
            Source::Clerk => "clerk",
            Source::Entitle => "entitle",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "checkout.completed")]
    CheckoutCompleted,
    #[serde(rename = "subscription.created")]
    SubscriptionCreated,
    #[serde(rename = "subscription.updated")]
    SubscriptionUpdated,
    #[serde(rename = "subscription.canceled")]
    SubscriptionCanceled,
    /// Stripe's three-day notice before a trial ends (for mailers: ask for a payment method).
    #[serde(rename = "subscription.trial_will_end")]
    SubscriptionTrialWillEnd,
    /// A subscription schedule was made, rewritten, released, canceled or completed: the plan change a
    /// subscription will make at its period end is new or gone (`scheduledChange`).
    #[serde(rename = "subscription.schedule_changed")]
    SubscriptionScheduleChanged,
    #[serde(rename = "invoice.paid")]
    InvoicePaid,
    #[serde(rename = "invoice.payment_failed")]
    InvoicePaymentFailed,
    #[serde(rename = "payment.succeeded")]
    PaymentSucceeded,
    #[serde(rename = "payment.failed")]
    PaymentFailed,
    #[serde(rename = "payment.action_required")]
    PaymentActionRequired,
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.updated")]
    UserUpdated,
    #[serde(rename = "user.deleted")]
    UserDeleted,
    /// An organization, the billing subject of a team, was created, renamed or deleted in Clerk (its Stripe
    /// customer kept in step, like a user's).
    #[serde(rename = "organization.created")]
    OrganizationCreated,
    #[serde(rename = "organization.updated")]
    OrganizationUpdated,
    #[serde(rename = "organization.deleted")]
    OrganizationDeleted,
    /// A membership or invitation of an organization changed in Clerk: a prompt to recount its seats (the
    /// count is read from Clerk, never incremented per event).
    #[serde(rename = "organization.members_changed")]
    OrganizationMembersChanged,
    /// An organization's seat count changed (and, on a seat plan, the subscription's seat quantity with it).
    #[serde(rename = "seats.changed")]
    SeatsChanged,
    #[serde(rename = "customer.linked")]
    CustomerLinked,
    #[serde(rename = "entitlements.changed")]
    EntitlementsChanged,
    #[serde(rename = "usage.limit_reached")]
    UsageLimitReached,
    #[serde(rename = "credits.low")]
    CreditsLow,
    /// Metered use beyond a plan's included amount, to be billed (the processor reports it to Stripe).
    #[serde(rename = "usage.recorded")]
    UsageRecorded,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::CheckoutCompleted => "checkout.completed",
            EventType::SubscriptionCreated => "subscription.created",
            EventType::SubscriptionUpdated => "subscription.updated",
            EventType::SubscriptionCanceled => "subscription.canceled",
            EventType::SubscriptionTrialWillEnd => "subscription.trial_will_end",
            EventType::SubscriptionScheduleChanged => "subscription.schedule_changed",
            EventType::InvoicePaid => "invoice.paid",
            EventType::InvoicePaymentFailed => "invoice.payment_failed",
            EventType::PaymentSucceeded => "payment.succeeded",
            EventType::PaymentFailed => "payment.failed",
            EventType::PaymentActionRequired => "payment.action_required",
            EventType::UserCreated => "user.created",
            EventType::UserUpdated => "user.updated",
            EventType::UserDeleted => "user.deleted",
            EventType::OrganizationCreated => "organization.created",
            EventType::OrganizationUpdated => "organization.updated",
            EventType::OrganizationDeleted => "organization.deleted",
            EventType::OrganizationMembersChanged => "organization.members_changed",
            EventType::SeatsChanged => "seats.changed",
            EventType::CustomerLinked => "customer.linked",
            EventType::EntitlementsChanged => "entitlements.changed",
            EventType::UsageLimitReached => "usage.limit_reached",
            EventType::CreditsLow => "credits.low",
            EventType::UsageRecorded => "usage.recorded",
        }
    }
}

/// One message on the billing-events topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "RawBillingEvent")]
pub struct BillingEvent {
    pub schema_version: u32,
    pub id: EventId,
    pub source: Source,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When the source says it happened (Stripe's `created`), RFC 3339.
    pub occurred_at: String,
    /// The subject's id (`user_…` or `org_…`; the name from before organizations, kept for consumers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<SubjectId>,
    /// Whom the event is about, typed: `{"type": "user" | "organization", "id"}` (set with `user_id`, by
    /// [`BillingEvent::set_subject`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_customer_id: Option<StripeCustomerId>,
    /// Stripe events only: test mode (`false`) or live mode (`true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub livemode: Option<bool>,
    pub data: EventData,
}

/// A billing subject as events name it: `{"type": "user" | "organization", "id": "user_…" | "org_…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    #[serde(rename = "type")]
    pub kind: crate::ids::SubjectKind,
    pub id: SubjectId,
}

impl From<&SubjectId> for Subject {
    fn from(id: &SubjectId) -> Self {
        Self {
            kind: id.kind(),
            id: id.clone(),
        }
    }
}

/// The wire form, `data` still unread: its shape follows from `type`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawBillingEvent {
    schema_version: u32,
    id: EventId,
    source: Source,
    #[serde(rename = "type")]
    event_type: EventType,
    occurred_at: String,
    #[serde(default)]
    user_id: Option<SubjectId>,
    #[serde(default)]
    subject: Option<Subject>,
    #[serde(default)]
    stripe_customer_id: Option<StripeCustomerId>,
    #[serde(default)]
    livemode: Option<bool>,
    data: serde_json::Value,
}

impl TryFrom<RawBillingEvent> for BillingEvent {
    type Error = serde_json::Error;

    fn try_from(raw: RawBillingEvent) -> Result<Self, Self::Error> {
        use serde_json::from_value;
        let data = match raw.event_type {
            EventType::CheckoutCompleted => EventData::Checkout(from_value(raw.data)?),
            EventType::SubscriptionCreated
            | EventType::SubscriptionUpdated
            | EventType::SubscriptionCanceled
            | EventType::SubscriptionTrialWillEnd => EventData::Subscription(from_value(raw.data)?),
            EventType::SubscriptionScheduleChanged => EventData::Schedule(from_value(raw.data)?),
            EventType::InvoicePaid | EventType::InvoicePaymentFailed => {
                EventData::Invoice(from_value(raw.data)?)
            }
            EventType::PaymentSucceeded
            | EventType::PaymentFailed
            | EventType::PaymentActionRequired => EventData::Payment(from_value(raw.data)?),
            EventType::UserCreated
            | EventType::UserUpdated
            | EventType::UserDeleted
            | EventType::OrganizationCreated
            | EventType::OrganizationUpdated
            | EventType::OrganizationDeleted => EventData::User(from_value(raw.data)?),
            EventType::OrganizationMembersChanged => EventData::Members(from_value(raw.data)?),
            EventType::SeatsChanged => EventData::Seats(from_value(raw.data)?),
            EventType::CustomerLinked => EventData::Linked(from_value(raw.data)?),
            EventType::EntitlementsChanged => EventData::Entitlements(from_value(raw.data)?),
            EventType::UsageLimitReached | EventType::CreditsLow => {
                EventData::Usage(from_value(raw.data)?)
            }
            EventType::UsageRecorded => EventData::Recorded(from_value(raw.data)?),
        };
        Ok(Self {
            schema_version: raw.schema_version,
            id: raw.id,
            source: raw.source,
            event_type: raw.event_type,
            occurred_at: raw.occurred_at,
            subject: raw.subject,
            user_id: raw.user_id,
            stripe_customer_id: raw.stripe_customer_id,
            livemode: raw.livemode,
            data,
        })
    }
}

impl BillingEvent {
    pub fn occurred(
        id: EventId,
        source: Source,
        event_type: EventType,
        at: UnixTime,
        data: EventData,
    ) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            id,
            source,
            event_type,
            occurred_at: at.to_rfc3339(),
            user_id: None,
            subject: None,
            stripe_customer_id: None,
            livemode: None,
            data,
        }
    }

    /// Whom the event is about: `userId` and the typed `subject`.
    pub fn set_subject(&mut self, subject: &SubjectId) {
        self.user_id = Some(subject.clone());
        self.subject = Some(Subject::from(subject));
    }
}

/// The `data` of each event type. Untagged on the wire: the envelope's `type` says which one it is (and
/// decides how [`BillingEvent`] reads it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EventData {
    Checkout(CheckoutData),
    Subscription(SubscriptionData),
    Invoice(InvoiceData),
    Payment(PaymentData),
    Linked(LinkedData),
    Entitlements(Box<EntitlementsChangedData>),
    User(UserData),
    Usage(UsageData),
    Recorded(UsageRecordedData),
    Schedule(ScheduleData),
    Members(MembersData),
    Seats(SeatsData),
}

/// `organization.members_changed`: which Clerk event prompted the recount (`organizationMembership.created`,
/// `organizationInvitation.revoked`, …). The count itself is never in it: it is read from Clerk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MembersData {
    pub clerk_event: String,
}

/// `seats.changed`: the organization's seats now (members, plus pending invitations when its plan counts
/// them), what they were, the version of the count (when it was read from Clerk, ms), and the quantity of
/// the subscription's seat item set from it (`null` when the plan bills no seats).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatsData {
    pub seats: u64,
    pub previous: Option<u64>,
    pub version: i64,
    pub billed_quantity: Option<u64>,
}

/// `subscription.schedule_changed`: which schedule, and the subscription it manages (or managed, once
/// released).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleData {
    pub schedule_id: String,
    pub status: String,
    pub subscription_id: Option<String>,
}

/// `usage.recorded`, from usage-api: the overage part of one usage (a record, or a hold's commit), once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageRecordedData {
    pub user_id: SubjectId,
    /// When the customers table knows it (the processor resolves it otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_customer_id: Option<StripeCustomerId>,
    /// The metered limit.
    pub feature: String,
    /// Stable per usage (the idempotency key's, or the hold's): the Stripe meter event's `identifier`.
    pub usage_id: String,
    /// The units beyond the included amount (> 0).
    pub overage: i64,
    /// The counter's period (`2026-12-02`, `2026-12`, or the billing period's key).
    pub period: String,
}

/// `usage.limit_reached` (once per user, limit and period) and `credits.low` (the balance fell below the
/// catalog's threshold), from usage-api.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageData {
    pub feature: String,
    /// `metered`, `allocated` or `credits`.
    pub kind: String,
    pub plan: String,
    /// The limit reached (`usage.limit_reached`); the threshold crossed (`credits.low`).
    pub limit: i64,
    /// Counted + held (`usage.limit_reached`); the balance left (`credits.low`).
    pub used: i64,
    /// When the period ends (metered limits), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<String>,
    /// `usage.limit_reached` of a member's cap inside an organization's pool: the member (`limit` and `used`
    /// are then the member's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<crate::ids::UserId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutData {
    pub session_id: String,
    /// `subscription`, `payment` or `setup`.
    pub mode: String,
    pub payment_status: Option<String>,
    pub subscription_id: Option<String>,
    pub payment_intent_id: Option<String>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionData {
    pub subscription_id: String,
    /// Stripe's status: `active`, `trialing`, `past_due`, `unpaid`, `canceled`, `incomplete`, …
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub items: Vec<SubscriptionItem>,
    pub current_period_start: Option<String>,
    pub current_period_end: Option<String>,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    pub cancel_at: Option<String>,
    pub canceled_at: Option<String>,
    pub ended_at: Option<String>,
    pub trial_end: Option<String>,
    pub latest_invoice_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionItem {
    pub price_id: String,
    pub lookup_key: Option<String>,
    pub product_id: Option<String>,
    pub quantity: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceData {
    pub invoice_id: String,
    pub subscription_id: Option<String>,
    pub status: Option<String>,
    #[serde(default)]
    pub amount_due: i64,
    #[serde(default)]
    pub amount_paid: i64,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub attempt_count: u32,
    pub next_payment_attempt: Option<String>,
    pub billing_reason: Option<String>,
    pub period_end: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentData {
    pub payment_intent_id: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub invoice_id: Option<String>,
    pub failure_code: Option<String>,
    pub decline_code: Option<String>,
}

/// `customer.linked`: the user now has this Stripe customer (also in the envelope's `stripeCustomerId`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedData {
    pub stripe_customer_id: String,
}

/// `user.created`, `user.updated`, `user.deleted` (the last carries no profile).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserData {
    pub email: Option<String>,
    pub name: Option<String>,
}

/// `entitlements.changed`: what a user may do changed. `previous` is `null` for a user's first entitlements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntitlementsChangedData {
    pub user_id: SubjectId,
    pub previous: Option<crate::entitlements::Entitlements>,
    pub current: crate::entitlements::Entitlements,
    /// What happened, as tags a mailer can word without diffing (`plan_changed`, `addon_added`, …;
    /// [`crate::entitlements::history::reasons`]).
    #[serde(default)]
    pub reasons: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_read_by_the_events_type_not_by_its_shape() {
        let json = r#"{"schemaVersion":1,"id":"evt_1","source":"stripe","type":"subscription.updated",
            "occurredAt":"2026-11-22T10:00:00Z","data":{"subscriptionId":"sub_1","status":"active","items":[],
            "currentPeriodStart":null,"currentPeriodEnd":null,"cancelAtPeriodEnd":false,"cancelAt":null,
            "canceledAt":null,"endedAt":null,"trialEnd":null,"latestInvoiceId":null}}"#;
        let event: BillingEvent = serde_json::from_str(json).unwrap();
        assert!(
            matches!(event.data, EventData::Subscription(ref s) if s.subscription_id == "sub_1")
        );
        let round_trip: BillingEvent =
            serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(round_trip, event);
        // A shape that does not fit its type is an error, not another type's data.
        let wrong = json.replace(r#""subscriptionId":"sub_1","#, "");
        assert!(serde_json::from_str::<BillingEvent>(&wrong).is_err());
    }
}
