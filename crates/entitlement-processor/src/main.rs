use entitlement_processor::{deps::Deps, handler::handle};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    entitle_core::telemetry::init();
    // config, catalog, secrets and clients: once per cold start; a bad configuration is an init error.
    let deps = Deps::from_env()
        .await
        .unwrap_or_else(|e| entitle_core::init::fail(&e));
    run(service_fn(|event| handle(&deps, event))).await
}
