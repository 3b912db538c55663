//! The Stripe webhook's CPU path per event — verify the signature, read the envelope, normalize, serialize
//! the SNS message — beside the floor measured in the same run: HMAC-SHA256 alone over the same bytes.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use entitle_core::stripe::events::{normalize, Normalized};
use entitle_core::stripe::signature::{sign, verify, DEFAULT_TOLERANCE};
use entitle_domain::time::UnixTime;
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use sha2::Sha256;
use std::hint::black_box;

const SECRET: &str = "whsec_bench_0123456789abcdefghijklmnop";
const NOW: i64 = 1_795_341_600;

fn compact(pretty: &str) -> Vec<u8> {
    let value: serde_json::Value = serde_json::from_str(pretty).expect("fixture is JSON");
    serde_json::to_vec(&value).expect("serializable")
}

fn bench(c: &mut Criterion) {
    let events = [
        (
            "3k subscription.updated",
            compact(include_str!(
                "../../../fixtures/stripe/bench/customer.subscription.updated.3k.json"
            )),
        ),
        (
            "30k invoice.paid",
            compact(include_str!(
                "../../../fixtures/stripe/bench/invoice.paid.30k.json"
            )),
        ),
    ];
    let secrets = vec![SecretString::from(SECRET.to_owned())];
    let mut group = c.benchmark_group("stripe_webhook");
    for (name, body) in &events {
        let header = sign(body, SECRET, NOW);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("hmac_sha256_floor", name),
            body,
            |b, body| {
                b.iter(|| {
                    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                    mac.update(b"1795341600.");
                    mac.update(black_box(body));
                    black_box(mac.finalize().into_bytes())
                })
            },
        );
        let event = |body: &[u8]| {
            let envelope = verify(
                black_box(body),
                Some(&header),
                &secrets,
                UnixTime::from_secs(NOW),
                DEFAULT_TOLERANCE,
            )
            .unwrap();
            match normalize(&envelope).unwrap() {
                Normalized::Event(event) => event,
                Normalized::Ignored => unreachable!("handled types"),
            }
        };
        group.bench_with_input(
            BenchmarkId::new("verify_parse_normalize", name),
            body,
            |b, body| b.iter(|| black_box(event(body))),
        );
        group.bench_with_input(
            BenchmarkId::new("verify_parse_normalize_serialize", name),
            body,
            |b, body| b.iter(|| black_box(serde_json::to_string(&event(body)).unwrap())),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
