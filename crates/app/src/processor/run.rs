//! One queue message applied, whatever it is: the use case the processor's handler and
//! `entitle dlq redrive` share.
use super::apply::apply;
use super::deps::Deps;
use super::failure::Failure;
use super::maintenance;
use super::publish::publish_changes;
use entitle_domain::queue::QueueMessage;
use entitle_domain::time::UnixTime;

/// Applies `message`, then mirrors and announces what changed. `Err` when it was not (fully) applied: see
/// [`Failure::is_permanent`].
pub async fn run(deps: &Deps, message: &QueueMessage, now: UnixTime) -> Result<(), Failure> {
    match message {
        QueueMessage::Event(event) => match apply(deps, event, now).await? {
            Some(user) => publish_changes(deps, &user, now).await,
            None => Ok(()),
        },
        QueueMessage::Work(work) => maintenance::work(deps, work, now).await,
        // A newer producer's event type: nothing this version applies.
        QueueMessage::Unknown { .. } => Ok(()),
    }
}
