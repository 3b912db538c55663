//! The Clerk webhook end to end: the local AWS emulator (DynamoDB, SNS, SQS through the real SDK, the
//! template's tables and topic) and the local fake Stripe API behind the production Stripe client.
mod customers;
mod helpers;
mod lifecycle;
mod organizations;
