//! The cold start's failure path: a configuration error is logged as one sentence with its causes and
//! reported to Lambda's `/runtime/init/error`, so the console and `aws lambda invoke` show an init error
//! ("Runtime.ConfigError: the environment variable DEAD_LETTER_QUEUE_URL is not set …") rather than an exit status. Hand-written because
//! lambda_runtime reports init errors only from inside its own loop, and our dependencies are built before it.
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

/// Logs `error`, tells the Runtime API (when there is one), and exits.
pub fn fail(error: &(dyn std::error::Error + 'static)) -> ! {
    let message = sentence(error);
    tracing::error!(error = %message, "cold start failed");
    eprintln!("{message}");
    if let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") {
        if let Err(e) = report(&api, &message) {
            eprintln!("reporting the init error to the Runtime API failed: {e}");
        }
    }
    std::process::exit(1)
}

/// The error and its causes, `outer: inner: …` (also how the processor words a dead-letter reason).
pub fn sentence(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

fn report(api: &str, message: &str) -> std::io::Result<()> {
    let body = serde_json::json!({ "errorMessage": message, "errorType": "Runtime.ConfigError" })
        .to_string();
    let mut stream = TcpStream::connect(api)?;
    stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    write!(
        stream,
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\n\
         Lambda-Runtime-Function-Error-Type: Runtime.ConfigError\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigError;
    use std::io::Read;

    #[test]
    fn a_missing_variable_reads_as_a_sentence_naming_it() {
        let error = ConfigError::Missing("DEAD_LETTER_QUEUE_URL".into());
        assert_eq!(
            sentence(&error),
            "the environment variable DEAD_LETTER_QUEUE_URL is not set, and the function cannot start without it (see Configuration in the README)"
        );
    }

    #[test]
    fn the_init_error_reaches_the_runtime_api_with_its_type_and_message() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let api = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = String::new();
            stream.read_to_string(&mut request).unwrap();
            request
        });
        report(&api, "PLAN_CATALOG is invalid").unwrap();
        let request = server.join().unwrap();
        assert!(request.starts_with("POST /2018-06-01/runtime/init/error HTTP/1.1\r\n"));
        assert!(request.contains("Lambda-Runtime-Function-Error-Type: Runtime.ConfigError\r\n"));
        let body: serde_json::Value =
            serde_json::from_str(request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["errorMessage"], "PLAN_CATALOG is invalid");
        assert_eq!(body["errorType"], "Runtime.ConfigError");
    }
}
