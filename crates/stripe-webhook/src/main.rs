use lambda_http::{run, service_fn, Error};
use stripe_webhook::{deps::Deps, handler::handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    entitle_core::telemetry::init();
    let deps = Deps::from_env().await?; // config, secrets and SDK clients: once per cold start
    run(service_fn(|req| handle(&deps, req))).await
}
