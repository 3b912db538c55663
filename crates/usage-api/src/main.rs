use lambda_http::{run, service_fn, Error};
use usage_api::{deps::Deps, router::handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    entitle_core::telemetry::init();
    let deps = Deps::from_env().await?; // config, catalog, API keys and clients: once per cold start
    run(service_fn(|req| handle(&deps, req))).await
}
