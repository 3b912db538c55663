//! Every seed and every kept regression input of every fuzz target runs and keeps the target's rule (no
//! panic, no 5xx, a 4xx for bad signatures and tokens): a crash the fuzzer found stays fixed.
use entitle_fuzz::{regressions, run, seeds, TARGETS};

#[test]
fn every_seed_and_regression_input_keeps_its_targets_rule() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut ran = 0;
    for target in TARGETS {
        let inputs = seeds(target);
        assert!(!inputs.is_empty(), "{target} has seeds");
        for (i, input) in inputs.iter().enumerate() {
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(&runtime, target, input)
            }));
            assert!(matches!(done, Ok(Ok(_))), "{target} seed {i}: {done:?}");
            ran += 1;
        }
        for (name, input) in regressions(target) {
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(&runtime, target, &input)
            }));
            assert!(
                matches!(done, Ok(Ok(_))),
                "{target} regression {name}: {done:?}"
            );
            ran += 1;
        }
    }
    assert!(ran >= TARGETS.len() * 2);
}

#[test]
fn the_valid_seeds_are_accepted_so_the_fuzzer_starts_past_the_signature() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A correctly signed fixture is taken (2xx), so mutations of it reach the event parsers.
    let (status, _) = run(&runtime, "stripe_event", &seeds("stripe_event")[0]).unwrap();
    assert!((200..300).contains(&status), "{status}");
    let (status, _) = run(&runtime, "clerk_event", &seeds("clerk_event")[0]).unwrap();
    assert!((200..300).contains(&status), "{status}");
    // A valid session reaches billing-api's routes, a valid key usage-api's.
    let (status, _) = run(&runtime, "billing_request", &seeds("billing_request")[5]).unwrap();
    assert_eq!(status, 200);
    let (status, _) = run(&runtime, "usage_request", &seeds("usage_request")[0]).unwrap();
    assert_eq!(status, 200);
    let (_, what) = run(&runtime, "catalog", seeds("catalog").last().unwrap()).unwrap();
    assert!(what.starts_with("parsed"), "{what}");
}
