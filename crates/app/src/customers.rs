//! A user's Stripe customer kept in step with their Clerk profile: clerk-webhook on `user.created|updated`,
//! and `entitle customer sync` for a user whose event was lost or predates Entitle. The customer itself comes
//! from the domain's `ensure_customer` (the one way a customer is made and linked).
use entitle_domain::customers::Ensured;
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::{
    CustomerDirectory, CustomerProfile, StoreError, StripeCustomers, StripeError,
};
use entitle_domain::time::UnixTime;

/// Which fields of the profile are written to Stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileWrite {
    /// Only the fields that differ from what was last written (as `ensure_customer` read it): a webhook's
    /// redelivery writes nothing.
    Changed,
    /// Every field Clerk has, whatever was written before: an operator's repair of a customer edited by hand.
    All,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Stripe(#[from] StripeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writes the profile (primary email, name) to the customer under `key` (Stripe's idempotency key: a retry
/// of the same delivery is the same write), then records it as last written. Answers whether Stripe was
/// written.
#[allow(clippy::too_many_arguments)]
pub async fn write_profile(
    customers: &dyn CustomerDirectory,
    stripe: &dyn StripeCustomers,
    user: &SubjectId,
    ensured: &Ensured,
    profile: &CustomerProfile,
    write: ProfileWrite,
    key: &str,
    now: UnixTime,
) -> Result<bool, ProfileError> {
    let stored = &ensured.profile;
    let changes = match write {
        ProfileWrite::All => profile.clone(),
        ProfileWrite::Changed => CustomerProfile {
            email: profile
                .email
                .clone()
                .filter(|e| stored.email.as_ref() != Some(e)),
            name: profile
                .name
                .clone()
                .filter(|n| stored.name.as_ref() != Some(n)),
        },
    };
    if changes == CustomerProfile::default() {
        return Ok(false);
    }
    stripe
        .update_customer(&ensured.customer, &changes, key)
        .await?;
    customers.save_profile(user, profile, now).await?;
    Ok(true)
}
