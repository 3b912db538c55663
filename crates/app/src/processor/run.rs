//! One queue message applied, whatever it is: the use case the processor's handler and
//! `entitle dlq redrive` share.
use super::apply::apply;
use super::deps::Deps;
use super::failure::Failure;
use super::maintenance;
use super::publish::publish_changes;
use entitle_domain::queue::QueueMessage;
use entitle_domain::time::UnixTime;
use std::time::Instant;

/// Applies `message`, then mirrors and announces what changed. `Err` when it was not (fully) applied: see
/// [`Failure::is_permanent`].
pub async fn run(deps: &Deps, message: &QueueMessage, now: UnixTime) -> Result<(), Failure> {
    let deadline = Instant::now() + maintenance::INVOCATION_TIME;
    run_until(deps, message, now, deadline).await
}

/// [`run`] within an invocation that ends at `deadline` (the work that walks pages stops before it).
pub async fn run_until(
    deps: &Deps,
    message: &QueueMessage,
    now: UnixTime,
    deadline: Instant,
) -> Result<(), Failure> {
    match message {
        QueueMessage::Event(event) => match apply(deps, event, now).await? {
            Some(user) => publish_changes(deps, &user, now).await,
            None => Ok(()),
        },
        QueueMessage::Work(work) => maintenance::work(deps, work, now, deadline).await,
        // A newer producer's event type: nothing this version applies.
        QueueMessage::Unknown { .. } => Ok(()),
    }
}
