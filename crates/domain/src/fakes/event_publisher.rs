//! A publisher that records what it was given.
use crate::event::BillingEvent;
use crate::ports::*;
use async_trait::async_trait;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Records what was published; can be told to fail.
#[derive(Default)]
pub struct RecordingPublisher {
    pub published: Mutex<Vec<BillingEvent>>,
    fail: AtomicBool,
}

impl RecordingPublisher {
    pub fn failing() -> Self {
        let p = Self::default();
        p.fail.store(true, Ordering::SeqCst);
        p
    }

    pub fn set_failing(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }

    pub fn events(&self) -> Vec<BillingEvent> {
        self.published.lock().unwrap().clone()
    }
}

#[async_trait]
impl EventPublisher for RecordingPublisher {
    async fn publish(&self, event: &BillingEvent) -> Result<(), PublishError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(PublishError {
                event_id: event.id.to_string(),
                source: "the topic is unavailable".into(),
            });
        }
        self.published.lock().unwrap().push(event.clone());
        Ok(())
    }
}
