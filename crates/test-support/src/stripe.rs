//! A local fake of the Stripe API (`scripts/fake_stripe.py`) for the tests of the functions that call Stripe:
//! point `STRIPE_API_BASE` at [`FakeStripe::base_url`] and `STRIPE_SECRET_KEY` at [`FakeStripe::api_key`].
//!
//! Each [`FakeStripe`] is its own Python process on a free port, killed when dropped, so tests can run in
//! parallel without sharing state. The fake's control API (seeding, injected failures, the request log) is
//! called here with a tiny blocking HTTP/1.1 client over `std::net::TcpStream`. Those calls are a few
//! hundred microseconds on loopback, so calling them from inside `#[tokio::test]` is fine: they block the
//! test's runtime thread only that long. Do not call them while the code under test must make progress on
//! the same current-thread runtime at the same moment (e.g. from inside a spawned task awaiting the fake).
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const START_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub struct FakeStripe {
    /// `http://127.0.0.1:<port>`: the value for `STRIPE_API_BASE`.
    pub base_url: String,
    /// A key the fake accepts (`sk_test_entitle_fake`): the value for `STRIPE_SECRET_KEY`.
    pub api_key: String,
    child: Child,
    port: u16,
}

impl FakeStripe {
    /// Starts a fake that answers without added latency.
    pub fn start() -> Self {
        Self::start_with_latency(0)
    }

    /// Starts a fake that sleeps `ms` milliseconds inside every `/v1` request (outside its state lock), so
    /// concurrent requests really overlap: races, in-progress idempotency keys (409) and timeouts show up.
    pub fn start_with_latency(ms: u64) -> Self {
        let root = repo_root();
        let venv_python = root.join(".venv/bin/python");
        let python = if venv_python.exists() {
            venv_python
        } else {
            PathBuf::from("python3")
        };
        let mut child = Command::new(&python)
            .arg(root.join("scripts/fake_stripe.py"))
            .args(["--port", "0", "--latency-ms", &ms.to_string()])
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the fake Stripe with {}: {e}",
                    python.display()
                )
            });
        let port = match read_port(&mut child) {
            Ok(port) => port,
            Err(message) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the fake Stripe (scripts/fake_stripe.py) did not start: {message}");
            }
        };
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            api_key: "sk_test_entitle_fake".to_owned(),
            child,
            port,
        }
    }

    /// Every `/v1` request received so far, in arrival order: `{"method", "path", "query", "params"` (the
    /// form decoded into nested JSON), `"idempotencyKey", "status", "replayed"}`.
    pub fn requests(&self) -> Vec<Value> {
        as_vec(self.control("GET", "/__fake/requests", None))
    }

    /// Every customer ever created, in creation order, with its metadata (deleted ones carry `"deleted": true`).
    pub fn customers(&self) -> Vec<Value> {
        as_vec(self.control("GET", "/__fake/customers", None))
    }

    /// The next `count` requests whose method is `method` (empty: any) and whose path starts with
    /// `path_prefix` answer `status` with a Stripe error body (`api_error` for 5xx, `rate_limit` for 429,
    /// `card_error` for 402) and change nothing. Like Stripe, 429 and 5xx answers are not stored under the
    /// request's idempotency key, so a retry with the same key runs for real.
    pub fn fail_next(&self, count: u32, status: u16, method: &str, path_prefix: &str) {
        let mut rule =
            serde_json::json!({"count": count, "status": status, "path_prefix": path_prefix});
        if !method.is_empty() {
            rule["method"] = method.into();
        }
        self.control("POST", "/__fake/fail", Some(&rule));
    }

    /// Adds a price: `{"id", "lookup_key", "unit_amount", "currency", "recurring": {"interval"} | null,
    /// "product"}`; missing fields get defaults (`recurring` absent = monthly). A price seeded with a
    /// `lookup_key` takes that key over from any older price, as Stripe's `transfer_lookup_key` does.
    pub fn seed_price(&self, price: Value) {
        self.control("POST", "/__fake/prices", Some(&price));
    }

    /// Adds a subscription and returns it in Stripe's shape: `{"customer", "price"` (a seeded price id),
    /// `"quantity", "status", "metadata", "cancel_at_period_end", "current_period_end"}`.
    pub fn seed_subscription(&self, sub: Value) -> Value {
        self.control("POST", "/__fake/subscriptions", Some(&sub))
    }

    fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let body = body.map(Value::to_string).unwrap_or_default();
        let (status, text) = http(self.port, method, path, &body)
            .unwrap_or_else(|e| panic!("fake Stripe control {method} {path}: {e}"));
        assert!(
            (200..300).contains(&status),
            "fake Stripe control {method} {path} answered {status}: {text}"
        );
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("fake Stripe control {method} {path}: {e}: {text}"))
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Reads `listening on <port>` from the child's first stdout line, giving up after [`START_TIMEOUT`]. A
/// thread reads (and then drains) stdout so the timeout holds and the child never blocks on a full pipe.
fn read_port(child: &mut Child) -> Result<u16, String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = tx.send(reader.read_line(&mut line).map(|_| line));
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = match rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => return Err(format!("reading its stdout: {e}")),
        Err(_) => {
            return Err(format!(
                "no `listening on <port>` line within {START_TIMEOUT:?}"
            ))
        }
    };
    line.trim()
        .strip_prefix("listening on ")
        .and_then(|port| port.parse().ok())
        .ok_or_else(|| {
            if line.is_empty() {
                "it exited before printing its port (see its stderr above)".to_owned()
            } else {
                format!("its first line was {line:?}, not `listening on <port>`")
            }
        })
}

fn as_vec(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        other => panic!("fake Stripe answered {other} where a list was expected"),
    }
}

/// One HTTP/1.1 request with a JSON body on a fresh connection (`Connection: close`): (status, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no end of headers in {response:?}")))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    Ok((status, body.to_owned()))
}
