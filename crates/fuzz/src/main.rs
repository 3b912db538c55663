//! A mutation fuzzer on stable Rust for the targets of this crate (see `lib.rs`):
//!
//!     cargo run -p entitle-fuzz --release -- [--seconds N] [--seed S] [TARGET…]
//!
//! Each target starts from its seeds (the tests' fixtures and hand-made inputs) and its regression corpus,
//! then mutates them for N seconds (default 10): bit flips, interesting bytes and numbers, insertions and
//! deletions, repeated runs, splices between inputs, and JSON-aware swaps of values for edge cases. An input
//! with an outcome (status, error code) not seen before joins the corpus — a coarse signal of new behaviour,
//! as no coverage instrumentation runs on stable. A panic or a broken rule (a 5xx, or a non-4xx for bad
//! signatures and tokens) is written to `.local/fuzz/crashes/<target>/<digest>` and makes the run fail; fixed,
//! it moves to `crates/fuzz/regressions/<target>/`, which `cargo test -p entitle-fuzz` replays.
use entitle_fuzz::{name_of, regressions, run, seeds, Outcome, TARGETS};
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// xorshift64*: deterministic for a seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"0",
    b"-1",
    b"1",
    b"-0",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"18446744073709551616",
    b"1e309",
    b"1.5",
    b"NaN",
    b"null",
    b"true",
    b"\"\"",
    b"[]",
    b"{}",
    b"\"\\u0000\"",
    b"\"\\ud800\"",
    b"\"user_\"",
    b"\"org_\"",
    b"\"%\"",
    b"\"\xF0\x9F\x92\xA5\"",
    b"[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]",
    b"\"2026-02-30T00:00:00Z\"",
    b"\"9999-12-31T23:59:59Z\"",
    b"%3A",
    b"%",
    b"%zz",
    b"&",
    b"=",
    b"|",
    b"#",
];

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] =
                    [0, 0xff, b'"', b'\\', b'{', b'}', b',', b':', b'\n', 0x7f][rng.below(10)];
            }
            2 => {
                let i = rng.below(len + 1);
                let value = INTERESTING[rng.below(INTERESTING.len())];
                data.splice(i..i, value.iter().copied());
            }
            3 if len > 1 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                data.drain(i..i + n);
            }
            4 if len > 1 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let chunk = data[i..i + n].to_vec();
                let times = 1 + rng.below(64);
                for _ in 0..times {
                    data.splice(i..i, chunk.iter().copied());
                }
            }
            5 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let (a, b) = (rng.below(len + 1), rng.below(other.len() + 1));
                data.truncate(a);
                data.extend_from_slice(&other[b..]);
            }
            6 => {
                // A JSON value (after a `:` up to the next `,` or `}`) swapped for an edge case.
                let colons: Vec<usize> = data
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b':')
                    .map(|(i, _)| i)
                    .collect();
                if let Some(&at) = colons.get(rng.below(colons.len().max(1))) {
                    let end = data[at + 1..]
                        .iter()
                        .position(|b| *b == b',' || *b == b'}')
                        .map_or(data.len(), |p| at + 1 + p);
                    let value = INTERESTING[rng.below(INTERESTING.len())];
                    data.splice(at + 1..end, value.iter().copied());
                }
            }
            7 if len > 0 => data.truncate(rng.below(len)),
            _ => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let random: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(i..i, random);
            }
        }
    }
    data.truncate(64 * 1024);
    data
}

fn main() -> std::process::ExitCode {
    let mut seconds = 10u64;
    let mut seed = 0x5eed_u64;
    let mut chosen = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(seconds),
            "--seed" => seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(seed),
            name if TARGETS.contains(&name) => chosen.push(name.to_owned()),
            other => {
                eprintln!(
                    "fuzz: unknown argument {other} (targets: {})",
                    TARGETS.join(", ")
                );
                return std::process::ExitCode::from(2);
            }
        }
    }
    if chosen.is_empty() {
        chosen = TARGETS.iter().map(|s| s.to_string()).collect();
    }
    // A panic is caught and reported below: keep its message short.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("fuzz: panic: {info}");
    }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let crashes_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.local/fuzz/crashes");
    let mut failed = 0;
    for target in &chosen {
        let mut rng =
            Rng(seed ^ (name_of(target.as_bytes()).len() as u64 + 1) ^ 0x9e37_79b9_7f4a_7c15);
        let mut corpus: Vec<Vec<u8>> = seeds(target);
        corpus.extend(regressions(target).into_iter().map(|(_, data)| data));
        let mut seen: HashSet<Outcome> = HashSet::new();
        let (mut runs, mut crashes) = (0u64, 0u64);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(seconds);
        let mut index = 0;
        while Instant::now() < deadline {
            // The seeds first, as they are; then mutations of the corpus.
            let input = if index < corpus.len() {
                index += 1;
                corpus[index - 1].clone()
            } else {
                let base = corpus[rng.below(corpus.len())].clone();
                mutate(&mut rng, &base, &corpus)
            };
            runs += 1;
            let result = catch_unwind(AssertUnwindSafe(|| run(&runtime, target, &input)));
            let problem = match result {
                Ok(Ok(outcome)) => {
                    if seen.insert(outcome) && corpus.len() < 4096 {
                        corpus.push(input.clone());
                    }
                    None
                }
                Ok(Err(rule)) => Some(rule),
                Err(_) => Some("panicked".to_owned()),
            };
            if let Some(problem) = problem {
                crashes += 1;
                let dir = crashes_dir.join(target);
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(name_of(&input));
                let _ = std::fs::write(&path, &input);
                if crashes <= 3 {
                    eprintln!("fuzz: {target}: {problem}: kept in {}", path.display());
                }
            }
        }
        let per_second = runs as f64 / started.elapsed().as_secs_f64();
        println!(
            "fuzz: {target:<17} {runs:>8} inputs ({per_second:>7.0}/s), {:>3} outcomes, corpus {:>4}, {crashes} failing",
            seen.len(),
            corpus.len()
        );
        if crashes > 0 {
            failed += 1;
        }
    }
    match failed {
        0 => std::process::ExitCode::SUCCESS,
        _ => std::process::ExitCode::FAILURE,
    }
}
