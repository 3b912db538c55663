use lambda_http::{run, service_fn, Error};
use usage_api::{deps::Deps, router::handle};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    entitle_core::telemetry::init();
    // config, catalog, API keys and clients: once per cold start; a bad configuration is an init error.
    let deps = Deps::from_env()
        .await
        .unwrap_or_else(|e| entitle_core::init::fail(&e));
    run(service_fn(|req| handle(&deps, req))).await
}
