//! billing-api end to end: session tokens signed with a test RSA key and verified against a local JWKS
//! server, the customers, entitlements and usage tables of the template on the local AWS emulator, and the
//! local fake Stripe API behind the production Stripe client.
mod checkout;
mod helpers;
mod history;
mod lifecycle;
mod organizations;
mod subscription;
mod usage;
