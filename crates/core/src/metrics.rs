//! Counters in CloudWatch embedded metric format: one JSON line on stdout, which Lambda ships to CloudWatch
//! Logs and CloudWatch turns into a metric — no API call, no latency on the request path. Outside Lambda
//! (tests, `make dev`, the demo) the count is a debug log line instead, so it never clutters a terminal.
use entitle_domain::time::UnixTime;
use std::sync::OnceLock;

pub const NAMESPACE: &str = "Entitle";

/// The function's name when running in AWS Lambda (`AWS_EXECUTION_ENV` is set by Lambda itself, not by
/// `cargo lambda watch`).
fn lambda_function() -> Option<&'static str> {
    static FUNCTION: OnceLock<Option<String>> = OnceLock::new();
    FUNCTION
        .get_or_init(|| {
            let in_lambda =
                std::env::var("AWS_EXECUTION_ENV").is_ok_and(|e| e.starts_with("AWS_Lambda_"));
            in_lambda.then(|| std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default())
        })
        .as_deref()
}

/// Adds `value` to metric `name`, dimensioned by the function.
pub fn count(name: &str, value: u64) {
    emit(name, value, None);
}

/// Adds `value` to metric `name`, dimensioned by the function and the event `type` (events received).
pub fn count_by_type(name: &str, event_type: &str, value: u64) {
    emit(name, value, Some(event_type));
}

fn emit(name: &str, value: u64, event_type: Option<&str>) {
    match lambda_function() {
        Some(function) => println!(
            "{}",
            line(function, name, value, event_type, UnixTime::now())
        ),
        None => tracing::debug!(metric = name, value, event_type, "metric"),
    }
}

fn line(function: &str, name: &str, value: u64, event_type: Option<&str>, now: UnixTime) -> String {
    let dimensions = match event_type {
        Some(_) => vec!["function", "type"],
        None => vec!["function"],
    };
    let mut doc = serde_json::json!({
        "_aws": {
            "Timestamp": now.secs() * 1000,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
        "function": function,
        name: value,
    });
    if let Some(event_type) = event_type {
        doc["type"] = event_type.into();
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_is_an_embedded_metric_format_document() {
        let text = line(
            "entitle-stripe-webhook",
            "SignatureFailures",
            1,
            None,
            UnixTime::from_secs(5),
        );
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["_aws"]["Timestamp"], 5000);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Entitle");
        assert_eq!(directive["Dimensions"], serde_json::json!([["function"]]));
        assert_eq!(directive["Metrics"][0]["Name"], "SignatureFailures");
        assert_eq!(doc["function"], "entitle-stripe-webhook");
        assert_eq!(doc["SignatureFailures"], 1);
    }

    #[test]
    fn a_count_by_type_adds_the_type_dimension() {
        let text = line(
            "f",
            "EventsReceived",
            1,
            Some("invoice.paid"),
            UnixTime::from_secs(5),
        );
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let dimensions = &doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"];
        assert_eq!(dimensions, &serde_json::json!([["function", "type"]]));
        assert_eq!(doc["type"], "invoice.paid");
        assert_eq!(doc["EventsReceived"], 1);
    }
}
