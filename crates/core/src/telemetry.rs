//! Logging: structured JSON in Lambda (CloudWatch parses it), readable text locally. `RUST_LOG` filters
//! (`info`, `debug`, `entitle_core=debug,info`, …); the `Targets` filter needs no regex engine, which keeps
//! the binary and its init small.
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
        && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let result = if in_lambda {
        let json = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_target(false)
            .without_time(); // Lambda stamps every line
        tracing_subscriber::registry()
            .with(json.with_filter(filter))
            .try_init()
    } else {
        let text = tracing_subscriber::fmt::layer().with_target(false);
        tracing_subscriber::registry()
            .with(text.with_filter(filter))
            .try_init()
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
