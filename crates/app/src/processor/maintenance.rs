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

/// `{"reconcile": {"userId": …}}`: that user, here. `{"reconcile": "all"}`: a fan-out through the
/// processor's own queue (see [`fan_out`]), so it survives any number of users and every user is reconciled
/// by whichever instance receives them.
pub async fn reconcile(
    deps: &Deps,
    target: &ReconcileTarget,
    now: UnixTime,
) -> Result<serde_json::Value, Failure> {
    match target {
        ReconcileTarget::All(All::All) => {
            let run = now.secs().to_string();
            fan_out(deps, &run, None, 0, now).await
        }
        ReconcileTarget::User { user_id } => match reconcile_user(deps, user_id, now).await {
            Ok(()) => Ok(json!({ "reconciled": 1, "failed": [] })),
            Err(error) => {
                tracing::error!(user_id = %user_id, error = %error.chain(), "reconcile failed");
                Ok(json!({ "reconciled": 0,
                    "failed": [{ "userId": user_id.as_str(), "error": error.chain() }] }))
            }
        },
    }
}

/// Users per page of a fan-out: one `Scan` page, eleven `SendMessageBatch` calls.
pub const FAN_OUT_PAGE: usize = 100;

/// A `reconcile.page` message's `data`: the run, the cursor, how many users earlier pages queued.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageData {
    pub run: String,
    pub after: Option<UserId>,
    #[serde(default)]
    pub queued: u64,
}

/// One page of a full reconcile: a `reconcile.requested` message per user of the page, and — while there are
/// more users — a `reconcile.page` message for the next page, all on the processor's own queue. No invocation
/// walks the whole table: each page is one message, so the walk resumes wherever it stopped (a page that
/// failed is retried by SQS, or dead-lettered and redriven), and the users are reconciled in parallel by the
/// instances that receive them. A page sent twice queues its users twice, which is harmless: a reconcile is
/// idempotent.
pub async fn fan_out(
    deps: &Deps,
    run: &str,
    after: Option<&UserId>,
    queued_before: u64,
    now: UnixTime,
) -> Result<serde_json::Value, Failure> {
    let (users, next) = deps.customers.users_page(after, FAN_OUT_PAGE).await?;
    let queued = queued_before + users.len() as u64;
    let envelope = |id: String, kind: &str, user: Option<&UserId>, data: serde_json::Value| {
        let mut message = json!({
            "schemaVersion": 1, "id": id, "source": "entitle", "type": kind,
            "occurredAt": now.to_rfc3339(), "data": data,
        });
        if let Some(user) = user {
            message["userId"] = json!(user.as_str());
        }
        message.to_string()
    };
    let mut bodies: Vec<String> = users
        .iter()
        .map(|user| {
            envelope(
                format!("reconcile-{run}-{user}"),
                "reconcile.requested",
                Some(user),
                json!({ "run": run }),
            )
        })
        .collect();
    if let Some(next) = &next {
        bodies.push(envelope(
            format!("reconcile-page-{run}-{next}"),
            "reconcile.page",
            None,
            json!({ "run": run, "after": next.as_str(), "queued": queued }),
        ));
    }
    deps.work.enqueue(&bodies).await?;
    tracing::info!(
        run,
        page = users.len(),
        queued,
        done = next.is_none(),
        "reconcile fan-out: queued a page of users"
    );
    Ok(json!({
        "run": run, "queued": queued, "done": next.is_none(),
        "after": next.as_ref().map(UserId::as_str),
    }))
}
