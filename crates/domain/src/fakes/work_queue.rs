//! A work queue that records what was sent.
use crate::ports::*;
use async_trait::async_trait;
use std::sync::Mutex;

#[derive(Default)]
pub struct RecordingWorkQueue {
    pub sent: Mutex<Vec<String>>,
    /// Each sent message's delay in seconds, in the order sent.
    pub delays: Mutex<Vec<u32>>,
}

impl RecordingWorkQueue {
    /// Everything sent so far, emptied.
    pub fn take(&self) -> Vec<String> {
        self.delays.lock().unwrap().clear();
        std::mem::take(&mut *self.sent.lock().unwrap())
    }

    /// The delays of everything sent since the last [`Self::take`], in order.
    pub fn delays(&self) -> Vec<u32> {
        self.delays.lock().unwrap().clone()
    }
}

#[async_trait]
impl WorkQueue for RecordingWorkQueue {
    async fn enqueue_delayed(&self, messages: &[(String, u32)]) -> Result<(), StoreError> {
        self.sent
            .lock()
            .unwrap()
            .extend(messages.iter().map(|(b, _)| b.clone()));
        self.delays
            .lock()
            .unwrap()
            .extend(messages.iter().map(|(_, d)| *d));
        Ok(())
    }
}
