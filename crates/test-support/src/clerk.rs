//! A local fake of Clerk's Backend API (`scripts/fake_clerk.py`) for the tests of the code that calls Clerk:
//! point `CLERK_API_BASE` at [`FakeClerk::base_url`] and `CLERK_SECRET_KEY` at [`FakeClerk::secret_key`].
//!
//! Each [`FakeClerk`] is its own Python process on a free port, killed when dropped, so tests can run in
//! parallel without sharing state. Like Clerk, it answers 404 for a user it does not know: create users
//! first with [`FakeClerk::create_user`]. The control API is called with a tiny blocking HTTP/1.1 client, as
//! in [`crate::stripe`] (same caveat: a few hundred microseconds on loopback, fine inside `#[tokio::test]`).
//! The process plumbing is a small copy of `stripe.rs`'s private helpers.
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const START_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub struct FakeClerk {
    /// `http://127.0.0.1:<port>`: the value for `CLERK_API_BASE`.
    pub base_url: String,
    /// A key the fake accepts (`sk_test_entitle_fake`): the value for `CLERK_SECRET_KEY`.
    pub secret_key: String,
    child: Child,
    port: u16,
}

impl FakeClerk {
    /// Starts a fake that answers without added latency.
    pub fn start() -> Self {
        Self::start_with_latency(0)
    }

    /// Starts a fake that sleeps `ms` milliseconds inside every `/v1` request (outside its state lock), so
    /// concurrent requests really overlap and timeouts show up.
    pub fn start_with_latency(ms: u64) -> Self {
        let root = repo_root();
        let venv_python = root.join(".venv/bin/python");
        let python = if venv_python.exists() {
            venv_python
        } else {
            PathBuf::from("python3")
        };
        let mut child = Command::new(&python)
            .arg(root.join("scripts/fake_clerk.py"))
            .args(["--port", "0", "--latency-ms", &ms.to_string()])
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the fake Clerk with {}: {e}", python.display())
            });
        let port = match read_port(&mut child) {
            Ok(port) => port,
            Err(message) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the fake Clerk (scripts/fake_clerk.py) did not start: {message}");
            }
        };
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            secret_key: "sk_test_entitle_fake".to_owned(),
            child,
            port,
        }
    }

    /// Creates the user `id` with empty metadata and returns it in Clerk's shape.
    pub fn create_user(&self, id: &str) -> Value {
        self.create_user_with(json!({ "id": id }))
    }

    /// Creates a user from `{"id"?, "email"?, "first_name"?, "last_name"?, "public_metadata"?,
    /// "private_metadata"?, "unsafe_metadata"?}` and returns it in Clerk's shape.
    pub fn create_user_with(&self, user: Value) -> Value {
        self.control("POST", "/__fake/users", Some(&user))
    }

    /// The user as the fake stores it (metadata included), `None` if there is no such user.
    pub fn user(&self, id: &str) -> Option<Value> {
        let (status, body) = self.try_control("GET", &format!("/__fake/users/{id}"), None);
        match status {
            200 => Some(body),
            404 => None,
            _ => panic!("fake Clerk control GET /__fake/users/{id} answered {status}: {body}"),
        }
    }

    /// The next `count` `/v1` requests whose path starts with `path_prefix` answer `status` with a Clerk
    /// error body (`internal_clerk_error` for 5xx, `too_many_requests` for 429) and change nothing.
    pub fn fail_next(&self, count: u32, status: u16, path_prefix: &str) {
        let rule = json!({"count": count, "status": status, "path_prefix": path_prefix});
        self.control("POST", "/__fake/fail", Some(&rule));
    }

    /// Every `/v1` request received so far, in arrival order: `{"method", "path", "body"` (JSON, the raw text
    /// if it was not JSON, or null), `"status", "authorization", "contentType", "userAgent"}`.
    pub fn requests(&self) -> Vec<Value> {
        match self.control("GET", "/__fake/requests", None) {
            Value::Array(items) => items,
            other => panic!("fake Clerk answered {other} where a list was expected"),
        }
    }

    /// Forgets every user, injected failure and logged request.
    pub fn reset(&self) {
        self.control("POST", "/__fake/reset", None);
    }

    fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, body) = self.try_control(method, path, body);
        assert!(
            (200..300).contains(&status),
            "fake Clerk control {method} {path} answered {status}: {body}"
        );
        body
    }

    fn try_control(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(Value::to_string).unwrap_or_default();
        let (status, text) = http(self.port, method, path, &body)
            .unwrap_or_else(|e| panic!("fake Clerk control {method} {path}: {e}"));
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("fake Clerk control {method} {path}: {e}: {text}"));
        (status, value)
    }
}

impl Drop for FakeClerk {
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
