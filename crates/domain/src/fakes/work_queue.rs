//! A work queue that records what was sent.
use crate::ports::*;
use async_trait::async_trait;
use std::sync::Mutex;

#[derive(Default)]
pub struct RecordingWorkQueue {
    pub sent: Mutex<Vec<String>>,
}

impl RecordingWorkQueue {
    /// Everything sent so far, emptied.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.sent.lock().unwrap())
    }
}

#[async_trait]
impl WorkQueue for RecordingWorkQueue {
    async fn enqueue(&self, bodies: &[String]) -> Result<(), StoreError> {
        self.sent.lock().unwrap().extend(bodies.iter().cloned());
        Ok(())
    }
}
