//! entitlement-processor, the Lambda function: its handler and use cases are `entitle_app::processor`,
//! re-exported here for `main` and the integration tests.
pub use entitle_app::processor::*;
