//! In-memory fakes of the ports, one file per port, for the handlers' unit tests (never for integration tests).
mod clerk;
mod customer_directory;
mod dead_letters;
mod entitlements;
mod event_log;
mod event_publisher;
mod stripe;
mod stripe_reader;
mod usage;
mod usage_meter;
mod work_queue;

pub use clerk::*;
pub use customer_directory::*;
pub use dead_letters::*;
pub use entitlements::*;
pub use event_log::*;
pub use event_publisher::*;
pub use stripe::*;
pub use stripe_reader::*;
pub use usage::*;
pub use usage_meter::*;
pub use work_queue::*;
