//! The real-shaped payloads in the repository's `fixtures/` folder.
use std::path::PathBuf;

pub fn path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(relative)
}

pub fn text(relative: &str) -> String {
    let path = path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

pub fn json(relative: &str) -> serde_json::Value {
    serde_json::from_str(&text(relative)).unwrap_or_else(|e| panic!("fixture {relative}: {e}"))
}

/// A Stripe event fixture (`fixtures/stripe/<name>.json`) with a fresh id and `created`, compact, as
/// Stripe would send it.
pub fn stripe_event(name: &str, id: &str, created: i64) -> String {
    let mut event = json(&format!("stripe/{name}.json"));
    event["id"] = id.into();
    event["created"] = created.into();
    serde_json::to_string(&event).expect("serializable")
}

/// A process-unique id with `prefix`, so tests sharing the emulator never collide.
pub fn unique_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!(
        "{prefix}{nanos:x}{}{:04}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `$SAMPLES_DIR/<kind>` when `make test` asks the tests to keep what they saw for scripts/check_samples.py.
pub fn samples_dir(kind: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("SAMPLES_DIR")?).join(kind);
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}
