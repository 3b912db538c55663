//! Counters in CloudWatch embedded metric format: one JSON line on stdout, which Lambda ships to CloudWatch
//! Logs and CloudWatch turns into a metric — no API call, no latency on the request path.

pub const NAMESPACE: &str = "Entitle";

/// Adds `value` to metric `name`, dimensioned by the function.
pub fn count(name: &str, value: u64) {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
    let line = format!(
        concat!(
            r#"{{"_aws":{{"Timestamp":{ts},"CloudWatchMetrics":[{{"Namespace":"{ns}","Dimensions":[["function"]],"#,
            r#""Metrics":[{{"Name":"{name}","Unit":"Count"}}]}}]}},"function":{function},"{name}":{value}}}"#
        ),
        ts = crate::time::UnixTime::now().secs() * 1000,
        ns = NAMESPACE,
        name = name,
        function = serde_json::Value::String(function),
        value = value,
    );
    // `println!` (not a raw stdout handle) so test harnesses capture it.
    println!("{line}");
}
