//! `ensure_customer`: the one way a Stripe customer comes to exist for a Clerk user, shared by the Clerk
//! webhook and checkout. However many callers race, the user ends with exactly one customer:
//!
//! 1. a linked row in the customers table answers at once;
//! 2. otherwise one caller wins a conditional claim on the row and creates the customer with an
//!    idempotency key derived from the user id (a caller that crashed after Stripe answered is replayed the
//!    same customer by Stripe when the next caller retries the key), then links it;
//! 3. the others wait for the link.
use crate::ids::{StripeCustomerId, SubjectId};
use crate::ports::{CustomerDirectory, CustomerProfile, StoreError, StripeCustomers, StripeError};
use crate::time::UnixTime;
use std::time::Duration;

/// Longer than a Stripe call takes; a creator that died frees the row after it.
pub const CREATION_LEASE: Duration = Duration::from_secs(15);
const WAIT_STEP: Duration = Duration::from_millis(100);
const WAIT_STEPS: u32 = 50;

#[derive(Debug, thiserror::Error)]
pub enum EnsureError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Stripe(#[from] StripeError),
    #[error("the user was deleted")]
    UserDeleted,
    #[error("another request is still creating the customer")]
    Busy,
}

impl EnsureError {
    /// Whether a later retry can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            EnsureError::Store(_) | EnsureError::Busy => true,
            EnsureError::Stripe(e) => e.is_retryable(),
            EnsureError::UserDeleted => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ensured {
    pub customer: StripeCustomerId,
    /// This call created the customer.
    pub created: bool,
    /// What was last written to the customer's profile (the link's, as read here); empty for a customer
    /// this call created.
    pub profile: CustomerProfile,
}

pub fn creation_key(user: &SubjectId) -> String {
    format!("entitle-customer-create-{user}")
}

pub async fn ensure_customer(
    directory: &dyn CustomerDirectory,
    stripe: &dyn StripeCustomers,
    user: &SubjectId,
) -> Result<Ensured, EnsureError> {
    for _ in 0..WAIT_STEPS {
        if let Some(link) = directory.get(user).await? {
            if link.deleted {
                return Err(EnsureError::UserDeleted);
            }
            if let Some(customer) = link.customer {
                return Ok(Ensured {
                    customer,
                    created: false,
                    profile: link.profile,
                });
            }
        }
        if directory
            .claim_creation(user, UnixTime::now(), CREATION_LEASE)
            .await?
        {
            return create(directory, stripe, user).await;
        }
        tokio::time::sleep(WAIT_STEP).await;
    }
    Err(EnsureError::Busy)
}

async fn create(
    directory: &dyn CustomerDirectory,
    stripe: &dyn StripeCustomers,
    user: &SubjectId,
) -> Result<Ensured, EnsureError> {
    let customer = match stripe.create_customer(user, &creation_key(user)).await {
        Ok(customer) => customer,
        Err(error) => {
            if let Err(release) = directory.release_creation(user).await {
                tracing::warn!(error = %release, "releasing the customer claim failed; its lease will expire");
            }
            return Err(error.into());
        }
    };
    directory.link(user, &customer, UnixTime::now()).await?;
    tracing::info!(user_id = %user, customer_id = %customer, "created the Stripe customer");
    Ok(Ensured {
        customer,
        created: true,
        profile: CustomerProfile::default(),
    })
}
