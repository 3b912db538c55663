//! Work without a triggering event: the hourly sweep of plans whose grace period or paid period ran out,
//! and reconcile ("manual sync") from Stripe's current state.
use super::deps::Deps;
use super::failure::Failure;
use super::history;
use super::publish::publish_changes;
use super::sync::{sync_user, Prompt};
use entitle_domain::ids::SubjectId;
use entitle_domain::ports::{LapseCursor, SaveOutcome};
use entitle_domain::queue::{paced, Work, WorkMessage};
use entitle_domain::time::UnixTime;
use serde::Serialize;
use std::time::{Duration, Instant};

/// What a sweep's invocation did: the grants it lapsed, the rows it could not (they stay due in the index,
/// and the next hourly sweep retries them), the index pages it read, and whether it reached the end of the
/// index (`false`: it stopped before the deadline and queued a `sweep.page` to go on).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Swept {
    pub downgraded: u64,
    pub failed: u64,
    pub pages: u64,
    pub done: bool,
}

/// Rows per query of the lapse index.
pub const SWEEP_PAGE: usize = 100;

/// What a sweep keeps back from its invocation's deadline: a row's load, write and announcement, and the
/// `sweep.page` it queues to go on (a few calls of well under a second each).
pub const SWEEP_MARGIN: Duration = Duration::from_secs(5);

/// The processor's timeout (infra/template.yaml): the deadline of an invocation without a Lambda context
/// (tests, the demo, `entitle dlq redrive`).
pub const INVOCATION_TIME: Duration = Duration::from_secs(30);

/// What a one-user reconcile did: `{"reconciled": 1, "failed": []}`, or the user and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reconciled {
    pub reconciled: u64,
    pub failed: Vec<ReconcileFailed>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileFailed {
    pub user_id: SubjectId,
    pub error: String,
}

/// One page of a full reconcile's fan-out: the run, the users queued so far, whether this was the last page,
/// and the cursor of the next one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FanOutPage {
    pub run: String,
    pub queued: u64,
    pub done: bool,
    pub after: Option<SubjectId>,
}

/// The processor's own work, from its queue.
/// `deadline`: the invocation's (a sweep stops before it).
pub async fn work(
    deps: &Deps,
    message: &WorkMessage,
    now: UnixTime,
    deadline: Instant,
) -> Result<(), Failure> {
    match &message.work {
        Work::ReconcileRequested(_) => {
            let user = message
                .user_id
                .as_ref()
                .ok_or_else(|| Failure::Permanent("reconcile.requested without a userId".into()))?;
            reconcile_user(deps, user, now).await
        }
        Work::ReconcilePage(page) => {
            fan_out(deps, &page.run, page.after.as_ref(), page.queued, now).await?;
            Ok(())
        }
        Work::SweepPage(page) => {
            let until = UnixTime::parse_rfc3339(&page.until).ok_or_else(|| {
                Failure::Permanent(format!("sweep.page: until {:?} is not a time", page.until))
            })?;
            sweep_from(deps, now, until, &page.from, SWEEP_PAGE, deadline).await?;
            Ok(())
        }
    }
}

/// The hourly sweep: persists (and mirrors and announces) every grant that lapsed by `now`, found by querying
/// the lapse index from its start; stops before `deadline` (see [`sweep_from`]).
pub async fn sweep(deps: &Deps, now: UnixTime, deadline: Instant) -> Result<Swept, Failure> {
    sweep_from(
        deps,
        now,
        now,
        &LapseCursor::default(),
        SWEEP_PAGE,
        deadline,
    )
    .await
}

/// The sweep of the rows that lapse by `until`, from `from` in the lapse index, `page` rows per query. Before
/// each row it checks the time left: with less than [`SWEEP_MARGIN`] to `deadline` it queues a `sweep.page`
/// (the same `until`, the cursor after the last row done) on the processor's own queue and returns, so any
/// number of due rows is swept by a chain of invocations, none of which times out. A row that fails is logged:
/// before its write it stays due in the index (the next hourly sweep retries it); after its write (Clerk or
/// SNS failed) a `reconcile.requested` of the user is queued to finish it; only a failed query or `sweep.page` enqueue fails the
/// invocation (retried by the scheduler or SQS: the walk is idempotent, a lapsed row has left the index).
pub async fn sweep_from(
    deps: &Deps,
    now: UnixTime,
    until: UnixTime,
    from: &LapseCursor,
    page: usize,
    deadline: Instant,
) -> Result<Swept, Failure> {
    let stop = deadline.checked_sub(SWEEP_MARGIN).unwrap_or(deadline);
    let mut swept = Swept {
        downgraded: 0,
        failed: 0,
        pages: 0,
        done: false,
    };
    let mut cursor = from.clone();
    'walk: loop {
        if Instant::now() >= stop {
            break 'walk;
        }
        let rows = deps.store.lapsing(until, &cursor, page).await?;
        swept.pages += 1;
        for row in rows.rows {
            if Instant::now() >= stop {
                break 'walk;
            }
            match lapse(deps, &row.user, now).await {
                Ok(true) => swept.downgraded += 1,
                Ok(false) => {}
                Err(error) => {
                    swept.failed += 1;
                    tracing::error!(user_id = %row.user, error = %error.chain(),
                        "sweep: a lapsed grant was not persisted, mirrored or announced; retried by the next hourly sweep or a queued reconcile");
                }
            }
            cursor = row.resume;
        }
        match rows.next {
            Some(next) => cursor = next,
            None => {
                swept.done = true;
                break 'walk;
            }
        }
    }
    if !swept.done {
        let message = WorkMessage::sweep_page(until, &cursor, now);
        let body = serde_json::to_string(&message).expect("a work message is plain data");
        deps.work.enqueue_delayed(&[(body, 0)]).await?;
    }
    tracing::info!(
        downgraded = swept.downgraded,
        failed = swept.failed,
        pages = swept.pages,
        done = swept.done,
        "swept lapsing plans"
    );
    Ok(swept)
}

/// Persists what `user`'s row holds at `now`, if that differs from what is stored; whether it wrote.
async fn lapse(deps: &Deps, user: &SubjectId, now: UnixTime) -> Result<bool, Failure> {
    let Some(stored) = deps.store.load(user).await? else {
        return Ok(false);
    };
    let mut lapsed = stored.entitlements.clone().effective(now, &deps.catalog);
    if lapsed.same_grant(&stored.entitlements) {
        return Ok(false);
    }
    lapsed.updated_at = Some(now.to_rfc3339());
    // A lapse has no event: its provenance is the sweep (no cause), over what was stored.
    let provenance = history::provenance(deps, Some(&stored), &lapsed, &[], None);
    // A conflict means an event just rewrote the row from Stripe's state (and its index entry with it):
    // nothing left to do.
    let saved = matches!(
        deps.store
            .save_version(
                &lapsed,
                Some(stored.version),
                Some(&stored.entitlements),
                None,
                Some(history::appended(&provenance, now)),
            )
            .await?,
        SaveOutcome::Saved { .. }
    );
    if let Err(error) = publish_changes(deps, user, now).await {
        // The write took the row out of the lapse index (or moved it to its next lapse): no later sweep finds
        // it again, so the mirror into Clerk and the announcement would wait for the user's next event. A
        // reconcile of the user on the processor's own queue finishes them (SQS redelivers it until it
        // succeeds, then the DLQ holds it); it recomputes from Stripe's current state and publishes what the
        // row holds.
        let message = WorkMessage::reconcile_requested(&format!("sweep-{}", now.secs()), user, now);
        let body = serde_json::to_string(&message).expect("a work message is plain data");
        deps.work.enqueue_delayed(&[(body, 0)]).await?;
        return Err(error);
    }
    Ok(saved)
}

/// Recomputes `user` from Stripe's current state: every subscription of their linked customer (none: the
/// free plan, credits kept).
pub async fn reconcile_user(deps: &Deps, user: &SubjectId, now: UnixTime) -> Result<(), Failure> {
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
        user_id: SubjectId,
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
) -> Result<ReconcileAnswer, Failure> {
    Ok(match target {
        ReconcileTarget::All(All::All) => {
            let run = now.secs().to_string();
            ReconcileAnswer::FanOut(fan_out(deps, &run, None, 0, now).await?)
        }
        ReconcileTarget::User { user_id } => {
            let answer = match reconcile_user(deps, user_id, now).await {
                Ok(()) => Reconciled {
                    reconciled: 1,
                    failed: Vec::new(),
                },
                Err(error) => {
                    tracing::error!(user_id = %user_id, error = %error.chain(), "reconcile failed");
                    Reconciled {
                        reconciled: 0,
                        failed: vec![ReconcileFailed {
                            user_id: user_id.clone(),
                            error: error.chain(),
                        }],
                    }
                }
            };
            ReconcileAnswer::User(answer)
        }
    })
}

/// A reconcile's answer: one user's, or the first page of a fan-out.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ReconcileAnswer {
    User(Reconciled),
    FanOut(FanOutPage),
}

/// Users per page of a fan-out: one `Scan` page, eleven `SendMessageBatch` calls.
pub const FAN_OUT_PAGE: usize = 100;

/// One page of a full reconcile: a `reconcile.requested` message per user of the page, and — while there are
/// more users — a `reconcile.page` message for the next page, all on the processor's own queue. No invocation
/// walks the whole table: each page is one message, so the walk resumes wherever it stopped (a page that
/// failed is retried by SQS, or dead-lettered and redriven), and the users are reconciled in parallel by the
/// instances that receive them. A page sent twice queues its users twice, which is harmless: a reconcile is
/// idempotent.
pub async fn fan_out(
    deps: &Deps,
    run: &str,
    after: Option<&SubjectId>,
    queued_before: u64,
    now: UnixTime,
) -> Result<FanOutPage, Failure> {
    let (users, next) = deps.customers.users_page(after, FAN_OUT_PAGE).await?;
    let queued = queued_before + users.len() as u64;
    let mut messages: Vec<WorkMessage> = users
        .iter()
        .map(|user| WorkMessage::reconcile_requested(run, user, now))
        .collect();
    if let Some(next) = &next {
        messages.push(WorkMessage::reconcile_page(run, next, queued, now));
    }
    // Paced: the page's users spread over its time, the next page after it (RECONCILE_USERS_PER_SECOND).
    let (delays, page_delay) = paced(users.len(), deps.reconcile_rate);
    let bodies: Vec<(String, u32)> = messages
        .iter()
        .map(|m| serde_json::to_string(m).expect("a work message is plain data"))
        .zip(delays.into_iter().chain(std::iter::once(page_delay)))
        .collect();
    deps.work.enqueue_delayed(&bodies).await?;
    tracing::info!(
        run,
        page = users.len(),
        queued,
        done = next.is_none(),
        "reconcile fan-out: queued a page of users"
    );
    Ok(FanOutPage {
        run: run.to_owned(),
        queued,
        done: next.is_none(),
        after: next,
    })
}
