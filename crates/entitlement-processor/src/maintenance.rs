//! Work without a triggering event: the hourly sweep of plans whose grace period or paid period ran out,
//! and reconcile ("manual sync") from Stripe's current state.
use crate::apply::{sync_user, Failure, Prompt};
use crate::deps::Deps;
use crate::publish::publish_changes;
use entitle_domain::ids::UserId;
use entitle_domain::ports::SaveOutcome;
use entitle_domain::time::UnixTime;
use serde_json::json;

/// Persists the downgrade of every plan that lapsed by `now`, then mirrors and announces it.
pub async fn sweep(deps: &Deps, now: UnixTime) -> Result<serde_json::Value, Failure> {
    let mut downgraded = 0;
    for user in deps.store.lapsing().await? {
        let Some(stored) = deps.store.load(&user).await? else {
            continue;
        };
        let mut lapsed = stored.entitlements.clone().effective(now, &deps.catalog);
        if lapsed.same_grant(&stored.entitlements) {
            continue;
        }
        lapsed.updated_at = Some(now.to_rfc3339());
        // A conflict means an event just rewrote the row from Stripe's state: nothing left to do.
        if let SaveOutcome::Saved { .. } = deps
            .store
            .save(
                &lapsed,
                Some(stored.version),
                Some(&stored.entitlements),
                None,
            )
            .await?
        {
            downgraded += 1;
        }
        publish_changes(deps, &user, now).await?;
    }
    tracing::info!(downgraded, "swept lapsing plans");
    Ok(json!({ "downgraded": downgraded }))
}

/// Recomputes `user` from Stripe's current state: every subscription of their linked customer (none: the
/// free plan, credits kept).
pub async fn reconcile_user(deps: &Deps, user: &UserId, now: UnixTime) -> Result<(), Failure> {
    let customer = deps
        .customers
        .get(user)
        .await?
        .and_then(|link| link.customer);
    sync_user(deps, user, customer.as_ref(), Prompt::default(), now).await?;
    publish_changes(deps, user, now).await
}

/// `{"reconcile": {"userId": "user_…"}}` or `{"reconcile": "all"}`.
/// Whom `{"reconcile": …}` rebuilds: `{"userId": "user_…"}` or `"all"`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum ReconcileTarget {
    All(All),
    User {
        #[serde(rename = "userId")]
        user_id: UserId,
    },
}

#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum All {
    All,
}

pub async fn reconcile(
    deps: &Deps,
    target: &ReconcileTarget,
    now: UnixTime,
) -> Result<serde_json::Value, Failure> {
    let users = match target {
        ReconcileTarget::All(All::All) => deps.customers.all_users().await?,
        ReconcileTarget::User { user_id } => vec![user_id.clone()],
    };
    let mut failed = Vec::new();
    for user in &users {
        if let Err(error) = reconcile_user(deps, user, now).await {
            tracing::error!(user_id = %user, error = %error, "reconcile failed");
            failed.push(json!({ "userId": user.as_str(), "error": error.to_string() }));
        }
    }
    Ok(json!({ "reconciled": users.len() - failed.len(), "failed": failed }))
}
