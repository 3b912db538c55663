//! usage-api end to end against the local AWS (the template's usage and entitlements tables, the topic)
//! through the real SDK: racing callers, replays, holds and periods with the clock injected, plan changes,
//! bad input, and the DynamoDB round trips a consume costs.
mod addons;
mod helpers;
mod history;
mod ledger;
mod members;
mod overage;
mod races;
mod scenarios;
