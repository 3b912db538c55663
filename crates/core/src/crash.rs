//! Crash points for the soak test (`make soak`, docs/soak.md): test-only, inert unless the process was started
//! with `ENTITLE_CRASH_AT`.
//!
//! `ENTITLE_CRASH_AT=claimed:0.05,stripe_written:0.02` makes the process abort (`std::process::abort`, as a
//! Lambda environment dies: no unwinding, no reply, nothing flushed) at the named points with the given
//! probability each. It is read once, at the first [`point`] of the process, from the process environment
//! only: nothing a request carries (headers, bodies, queue messages) can set or change it, and a deployed
//! function has no such variable (infra/template.yaml never sets it). Unset, empty or malformed, every point is
//! a no-op after one cached lookup. The points:
//!
//! - `claimed`: a webhook has claimed the delivery in the idempotency table and not yet done its work (the
//!   Stripe webhook's publish, the Clerk webhook's customer sync).
//! - `stripe_written`: Stripe answered a write (POST or DELETE) with a 2xx and the caller has not seen it yet.
//! - `processor_applied`: the processor applied a queue message and has not answered the batch (so the queue
//!   redelivers a message whose effects are already written).
//! - `usage_recorded`: usage-api wrote a consume and has not answered it (the caller's retry replays it).

use std::sync::OnceLock;

/// The points this build knows; an unknown name in `ENTITLE_CRASH_AT` is ignored (and logged once).
pub const POINTS: &[&str] = &[
    "claimed",
    "stripe_written",
    "processor_applied",
    "usage_recorded",
];

static PLAN: OnceLock<Vec<(&'static str, f64)>> = OnceLock::new();

/// Parses `name:probability,…`; only known names with a probability in (0, 1].
pub fn parse(spec: &str) -> Vec<(&'static str, f64)> {
    spec.split(',')
        .filter_map(|part| {
            let (name, probability) = part.trim().split_once(':')?;
            let point = POINTS.iter().find(|p| **p == name.trim())?;
            let probability: f64 = probability.trim().parse().ok()?;
            (probability > 0.0 && probability <= 1.0).then_some((*point, probability))
        })
        .collect()
}

fn plan() -> &'static [(&'static str, f64)] {
    PLAN.get_or_init(|| {
        let spec = std::env::var("ENTITLE_CRASH_AT").unwrap_or_default();
        let plan = parse(&spec);
        if !spec.trim().is_empty() {
            tracing::warn!(spec = %spec, points = plan.len(), "ENTITLE_CRASH_AT is set: test-only crash points armed");
        }
        plan
    })
}

/// A uniform draw in [0, 1) from the OS's random source.
fn draw() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 1.0;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// Aborts the process here with the probability `ENTITLE_CRASH_AT` gives `name`; otherwise does nothing.
pub fn point(name: &'static str) {
    let Some(&(_, probability)) = plan().iter().find(|(p, _)| *p == name) else {
        return;
    };
    if draw() < probability {
        // One line the soak's runner counts, written straight to stderr (no buffering, no logger).
        eprintln!("ENTITLE_CRASH point={name}");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_points_and_ignores_the_rest() {
        assert_eq!(
            parse("claimed:0.05, stripe_written:1,bogus:0.5,usage_recorded:0,processor_applied:x"),
            vec![("claimed", 0.05), ("stripe_written", 1.0)]
        );
        assert!(parse("").is_empty());
        assert!(parse("claimed").is_empty());
        assert!(parse("claimed:1.5").is_empty());
    }

    #[test]
    fn draws_are_in_the_unit_interval() {
        for _ in 0..1000 {
            let x = draw();
            assert!((0.0..1.0).contains(&x), "{x}");
        }
    }
}
