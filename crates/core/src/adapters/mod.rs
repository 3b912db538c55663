//! Adapters: the ports implemented against AWS (Stripe's are in [`crate::stripe`], Clerk's here). Each owns its SDK client and keeps SDK types inside.
pub mod classify;
pub mod clerk_client;
mod dynamo;
pub mod dynamo_customers;
pub mod dynamo_entitlements;
pub mod dynamo_event_log;
pub mod dynamo_usage;
pub mod http;
pub mod sns_publisher;
pub mod sqs_dead_letters;
pub mod sqs_work_queue;

pub use clerk_client::ClerkClient;
pub use dynamo_customers::DynamoCustomerDirectory;
pub use dynamo_entitlements::DynamoEntitlements;
pub use dynamo_event_log::DynamoEventLog;
pub use dynamo_usage::DynamoUsage;
pub use sns_publisher::SnsPublisher;
pub use sqs_dead_letters::SqsDeadLetters;
pub use sqs_work_queue::SqsWorkQueue;

/// An SDK error with its whole chain, for logs and `#[source]`s (the SDK's `Display` alone says little).
pub fn sdk_error<E, R>(
    error: aws_sdk_dynamodb::error::SdkError<E, R>,
) -> Box<dyn std::error::Error + Send + Sync>
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    aws_sdk_dynamodb::error::DisplayErrorContext(error)
        .to_string()
        .into()
}
