use entitlement_processor::{deps::Deps, handler::handle};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    entitle_core::telemetry::init();
    let deps = Deps::from_env().await?; // config, catalog, secrets and clients: once per cold start
    run(service_fn(|event| handle(&deps, event))).await
}
