//! Counters in CloudWatch embedded metric format: one JSON line on stdout, which Lambda ships to CloudWatch
//! Logs and CloudWatch turns into a metric — no API call, no latency on the request path. Outside Lambda
//! (tests, `make dev`, the demo) the count is a debug log line instead, so it never clutters a terminal.
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
    match lambda_function() {
        Some(function) => println!(
            "{}",
            line(function, name, value, crate::time::UnixTime::now())
        ),
        None => tracing::debug!(metric = name, value, "metric"),
    }
}

fn line(function: &str, name: &str, value: u64, now: crate::time::UnixTime) -> String {
    format!(
        concat!(
            r#"{{"_aws":{{"Timestamp":{ts},"CloudWatchMetrics":[{{"Namespace":"{ns}","Dimensions":[["function"]],"#,
            r#""Metrics":[{{"Name":"{name}","Unit":"Count"}}]}}]}},"function":{function},"{name}":{value}}}"#
        ),
        ts = now.secs() * 1000,
        ns = NAMESPACE,
        name = name,
        function = serde_json::Value::String(function.to_owned()),
        value = value,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_is_an_embedded_metric_format_document() {
        let doc: serde_json::Value = serde_json::from_str(&line(
            "entitle-stripe-webhook",
            "SignatureFailures",
            1,
            crate::time::UnixTime::from_secs(5),
        ))
        .unwrap();
        assert_eq!(doc["_aws"]["Timestamp"], 5000);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Entitle");
        assert_eq!(directive["Dimensions"][0][0], "function");
        assert_eq!(directive["Metrics"][0]["Name"], "SignatureFailures");
        assert_eq!(doc["function"], "entitle-stripe-webhook");
        assert_eq!(doc["SignatureFailures"], 1);
    }
}
