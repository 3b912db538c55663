//! The Stripe webhook end to end against the local AWS emulator: real DynamoDB, SNS and SQS through the
//! real SDK, the resources and subscription of infra/template.yaml.
mod delivery;
mod helpers;
mod idempotency;
mod rejection;
mod rotation;
