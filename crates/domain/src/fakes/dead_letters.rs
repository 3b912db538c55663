//! A dead-letter queue that records.
use crate::ports::*;
use async_trait::async_trait;
use std::sync::Mutex;

/// Records dead-lettered bodies.
#[derive(Default)]
pub struct RecordingDeadLetters {
    pub letters: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl DeadLetters for RecordingDeadLetters {
    async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), StoreError> {
        self.letters
            .lock()
            .unwrap()
            .push((body.to_owned(), reason.to_owned()));
        Ok(())
    }
}
