//! A usage meter that records, de-duplicates by identifier as Stripe does, and can be made to fail.
use crate::ports::*;
use async_trait::async_trait;
use std::sync::Mutex;

#[derive(Default)]
pub struct RecordingMeter {
    pub events: Mutex<Vec<MeterEvent>>,
    /// How many of the next reports fail as "Stripe is unavailable".
    pub fail_next: Mutex<u32>,
}

impl RecordingMeter {
    pub fn total(&self) -> i64 {
        self.events.lock().unwrap().iter().map(|e| e.value).sum()
    }
}

#[async_trait]
impl UsageMeter for RecordingMeter {
    async fn report(&self, event: &MeterEvent) -> Result<Reported, StripeError> {
        {
            let mut fail = self.fail_next.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return Err(StripeError::Unavailable("injected outage".into()));
            }
        }
        let mut events = self.events.lock().unwrap();
        if events.iter().any(|e| e.identifier == event.identifier) {
            return Ok(Reported::AlreadyRecorded);
        }
        events.push(event.clone());
        Ok(Reported::Recorded)
    }
}
