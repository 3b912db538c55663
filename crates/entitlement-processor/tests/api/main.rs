//! The processor against the local AWS emulator (the template's queue, DLQ, topic and tables through the real
//! SDK) and local fakes of Stripe's and Clerk's APIs behind the production clients.
mod announcements;
mod customer_state;
mod fan_out;
mod flow;
mod helpers;
mod history;
mod overage;
mod seats;
mod sweep;
