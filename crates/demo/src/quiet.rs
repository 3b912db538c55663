//! The functions count metrics as CloudWatch embedded-metric JSON lines on stdout (`entitle_core::metrics`),
//! which would bury the demo's table. So the demo runs itself as a child process and drops those lines from
//! its output — unless `RUST_LOG` is set, when everything the functions print is shown.
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};

const CHILD: &str = "ENTITLE_DEMO_CHILD";
const METRIC_LINE: &str = r#"{"_aws":"#;

/// Whether this process should play the story itself rather than filter a child's output.
pub fn plays_itself() -> bool {
    std::env::var_os(CHILD).is_some() || std::env::var_os("RUST_LOG").is_some()
}

/// Runs this same binary as a child, echoing its stdout without the metric lines; its exit status.
pub fn run_child() -> ExitCode {
    let spawned = std::env::current_exe().and_then(|exe| {
        Command::new(exe)
            .env(CHILD, "1")
            .stdout(Stdio::piped())
            .spawn()
    });
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            eprintln!("demo: FAILED: cannot start the demo process: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdout = child.stdout.take().expect("stdout is piped");
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if !line.starts_with(METRIC_LINE) {
            println!("{line}");
        }
    }
    match child.wait() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(status.code().map_or(1, |c| c.clamp(1, 255) as u8)),
        Err(e) => {
            eprintln!("demo: FAILED: waiting for the demo process: {e}");
            ExitCode::FAILURE
        }
    }
}
