//! usage-api, the Lambda function: its handlers and use cases are `entitle_app::usage_api`, re-exported
//! here for `main` and the integration tests.
pub use entitle_app::usage_api::*;
