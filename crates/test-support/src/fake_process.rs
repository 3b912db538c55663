//! A local fake API as its own Python process (`scripts/fake_*.py`) on a free port, killed when dropped, and a
//! tiny blocking HTTP/1.1 client for its control API. Shared by [`crate::stripe`] and [`crate::clerk`].
//!
//! Control calls take a few hundred microseconds on loopback, so calling them from inside `#[tokio::test]` is
//! fine: they block the test's runtime thread only that long. Do not call them while the code under test must
//! make progress on the same current-thread runtime at the same moment.
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const START_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct FakeProcess {
    name: &'static str,
    child: Child,
    pub port: u16,
}

impl FakeProcess {
    /// Runs `scripts/<script> --port 0 --latency-ms <ms>` with the venv's Python (else `python3`) and waits for
    /// its `listening on <port>` line.
    pub fn start(name: &'static str, script: &str, latency_ms: u64) -> Self {
        let root = repo_root();
        let venv_python = root.join(".venv/bin/python");
        let python = if venv_python.exists() {
            venv_python
        } else {
            PathBuf::from("python3")
        };
        let mut child = Command::new(&python)
            .arg(root.join("scripts").join(script))
            .args(["--port", "0", "--latency-ms", &latency_ms.to_string()])
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {name} with {}: {e}", python.display()));
        let port = match read_port(&mut child) {
            Ok(port) => port,
            Err(message) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the {name} (scripts/{script}) did not start: {message}");
            }
        };
        Self { name, child, port }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A control call that must succeed: its JSON answer.
    pub fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, body) = self.try_control(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{} control {method} {path} answered {status}: {body}",
            self.name
        );
        body
    }

    /// A control call: `(status, JSON answer)`.
    pub fn try_control(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(Value::to_string).unwrap_or_default();
        let (status, text) = http(self.port, method, path, &body)
            .unwrap_or_else(|e| panic!("{} control {method} {path}: {e}", self.name));
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} control {method} {path}: {e}: {text}", self.name));
        (status, value)
    }

    /// A control call answering a list.
    pub fn list(&self, path: &str) -> Vec<Value> {
        match self.control("GET", path, None) {
            Value::Array(items) => items,
            other => panic!("{} answered {other} where a list was expected", self.name),
        }
    }
}

impl Drop for FakeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The checkout under test: cargo sets `CARGO_MANIFEST_DIR` (a `crates/<name>` directory) for the tests and
/// programs it runs, so the fakes come from the same tree as the code even when a shared target directory
/// hands this crate over compiled from another checkout of the workspace; the compile-time value otherwise.
fn repo_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    Path::new(&manifest_dir).join("../..")
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
