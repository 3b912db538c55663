//! Credit packs: a paid checkout's credits added once to the balance usage-api spends.
use super::deps::Deps;
use super::failure::Failure;
use super::sync::{write, ATTEMPTS};
use entitle_domain::entitlements::Entitlements;
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::usage::{CounterKey, Flag, Record, WriteOutcome};
use entitle_domain::time::UnixTime;
use entitle_domain::usage::{account, decision};

/// Adds a paid credit-pack checkout's credits — amounts from the catalog, never from the client — to the one
/// credits balance: the usage table's counter, the one usage-api spends. The ledger row
/// `checkout#<session>` is written in the same transaction as the unconditional `ADD`, so a replay adds
/// nothing and a spend racing the purchase loses neither. Then the entitlements row's `credits` is brought
/// to the balance (see [`mirror_credits`]).
pub async fn add_credits(
    deps: &Deps,
    user: &SubjectId,
    session: &str,
    now: UnixTime,
) -> Result<(), Failure> {
    let mut credits: i64 = 0;
    for (price, lookup_key, quantity) in deps.stripe.checkout_line_items(session).await? {
        let pack = deps
            .catalog
            .credit_pack_for_price(&price, lookup_key.as_deref())
            .ok_or_else(|| {
                entitle_core::metrics::count("UnknownPrices", 1);
                Failure::Permanent(format!(
                    "checkout {session}: price {price} is not a credit pack"
                ))
            })?;
        credits += (pack.credits * quantity) as i64;
    }
    if credits == 0 {
        return Ok(());
    }
    let key = account::credits_counter(&deps.catalog, user).ok_or_else(|| {
        Failure::Permanent("the catalog sells credit packs but declares no credits limit".into())
    })?;
    let entry = Record {
        key: format!("checkout#{session}"),
        user: user.clone(),
        fingerprint: session.to_owned(),
        response: String::new(),
        credits,
        reason: "credit pack purchase".into(),
        at: now,
        expires_at: None,
    };
    match deps
        .usage
        .write(&key, &decision::add_credits(credits), Some(&entry))
        .await?
    {
        WriteOutcome::Applied => {
            tracing::info!(user_id = %user, credits, checkout = session, "credits added");
        }
        // The unconditional `ADD` cannot fail its guard: the ledger row exists, this checkout was counted.
        WriteOutcome::Conflict => {}
    }
    // Credits bought: the next fall below the threshold is announced again (idempotent, so a retry after a
    // failure here does it then).
    deps.usage.clear_flag(&key, Flag::CreditsLow).await?;
    mirror_credits(deps, user, &key, now).await
}

/// Brings the entitlements row's `credits` to the live balance, so that the Clerk mirror and
/// `entitlements.changed` carry the balance after a purchase. The row's copy is a snapshot: usage-api's
/// spends do not touch it, and every reader of the live number (billing-api, usage-api) asks the usage
/// table. The write is conditional on the version read before the balance, so the last write rests on a
/// balance read after every earlier purchase.
async fn mirror_credits(
    deps: &Deps,
    user: &SubjectId,
    key: &CounterKey,
    now: UnixTime,
) -> Result<(), Failure> {
    for _ in 0..ATTEMPTS {
        let stored = deps.store.load(user).await?;
        let (_, counters) = deps.usage.counters(user, std::slice::from_ref(key)).await?;
        let balance = counters
            .first()
            .map_or(0, |c| account::credits_balance(c, now));
        let mut next = stored
            .as_ref()
            .map(|s| s.entitlements.clone())
            .unwrap_or_else(|| Entitlements::free(user.clone(), &deps.catalog));
        if stored.is_some() && next.credits == balance {
            return Ok(());
        }
        next.credits = balance;
        next.updated_at = Some(now.to_rfc3339());
        // The balance's copy is no history version of its own: the credits ledger records every movement.
        if write(deps, stored.as_ref(), next, None, now).await? {
            return Ok(());
        }
    }
    Err(Failure::Contention("lost the write race too often"))
}
