use lambda_http::{run, service_fn, Error};
use stripe_webhook::{deps::Deps, handler::handle};

// One thread: an environment handles one event at a time, and worker threads only add wake-ups and task
// switches (measured: about a quarter of a warm event's CPU).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    entitle_core::telemetry::init();
    // config, secrets and SDK clients: once per cold start; a bad configuration is an init error.
    let deps = Deps::from_env()
        .await
        .unwrap_or_else(|e| entitle_core::init::fail(&e));
    run(service_fn(|req| handle(&deps, req))).await
}
