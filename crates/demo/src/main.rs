//! `make demo`: a customer's life — sign-up, checkout, subscription, upgrade, a failed and a recovered
//! payment, cancellation, a credit pack, then messages to the daily limit, a hold committed for less and
//! credits spent to zero — played through the five functions in-process, with their real adapters on the
//! local AWS and the local Stripe and Clerk fakes, checking the entitlements and usage after each step.
//! The functions' logs: `RUST_LOG=info make demo`.
mod expect;
mod story;
mod token;
mod wire;
mod world;

use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::var_os("RUST_LOG").is_some() {
        entitle_core::telemetry::init();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    match runtime.block_on(story::run()) {
        Ok(steps) => {
            println!("demo: {steps} steps, all entitlements as expected");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("demo: FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}
