//! usage-api's CPU per decision, outside the network: `check` and `consume` on a counter as read (with live
//! and expired holds to sweep), and a consume with its answer built and serialized as the handler sends it.
use criterion::{criterion_group, criterion_main, Criterion};
use entitle_domain::entitlements::{Entitlements, Status};
use entitle_domain::ids::SubjectId;
use entitle_domain::plans::PlanCatalog;
use entitle_domain::time::UnixTime;
use entitle_domain::usage::decision::{check, consume};
use entitle_domain::usage::{account, member, Counter, Hold, LimitKind, MemberUsage, Period};
use std::hint::black_box;

const NOW: i64 = 1_795_341_600;

fn counter(value: i64, holds: &[(i64, i64)]) -> Counter {
    let mut c = Counter {
        value,
        reserved: value,
        ..Counter::default()
    };
    for (i, (amount, expires)) in holds.iter().enumerate() {
        c.reserved += amount;
        c.holds.insert(
            format!("{i:024x}"),
            Hold {
                amount: *amount,
                expires_at: UnixTime::from_secs(*expires),
            },
        );
    }
    c
}

fn bench(c: &mut Criterion) {
    let catalog = PlanCatalog::builtin();
    let user = SubjectId::parse("user_2abcDEFghiJKLmnoPQRstuVWxyz").unwrap();
    let e = Entitlements::on_plan(
        user.clone(),
        catalog.plan("starter").unwrap(),
        Status::Active,
    );
    let now = UnixTime::from_secs(NOW);
    let metered = LimitKind::Metered(Period::Day);
    let messages = account::allowance(catalog, &e, "messages_per_day");
    let credits = account::allowance(catalog, &e, "credits");
    // Two live holds and one expired (swept by the consume).
    let busy = counter(400, &[(5, NOW + 60), (7, NOW + 600), (3, NOW - 1)]);
    let balance = counter(2_000, &[(-500, NOW + 300)]);

    let mut with_packs = e.clone();
    with_packs.addons = vec![entitle_domain::entitlements::AddonGrant {
        plan: "team_pack".into(),
        quantity: 2,
        subscription_id: "sub_pack".into(),
        until: None,
    }];

    let mut group = c.benchmark_group("usage");
    // What usage-api reads before every decision: the base plan's limit plus each add-on's × quantity.
    group.bench_function("allowance, plan alone", |b| {
        b.iter(|| account::allowance(catalog, black_box(&e), "messages_per_day"))
    });
    group.bench_function("allowance, plan + 2 packs", |b| {
        b.iter(|| account::allowance(catalog, black_box(&with_packs), "messages_per_day"))
    });
    group.bench_function("check metered", |b| {
        b.iter(|| check(metered, messages, black_box(&busy), 1, now))
    });
    group.bench_function("check credits", |b| {
        b.iter(|| check(LimitKind::Credits, credits, black_box(&balance), 10, now))
    });
    group.bench_function("consume metered (sweeps an expired hold)", |b| {
        b.iter(|| consume(metered, messages, black_box(&busy), 1, None, now))
    });
    group.bench_function("consume credits under a hold", |b| {
        b.iter(|| {
            let hold = Some((
                "0123456789abcdef01234567".to_owned(),
                Hold {
                    amount: 50,
                    expires_at: UnixTime::from_secs(NOW + 300),
                },
            ));
            consume(
                LimitKind::Credits,
                credits,
                black_box(&balance),
                50,
                hold,
                now,
            )
        })
    });
    group.bench_function("consume metered + counter key + JSON answer", |b| {
        b.iter(|| {
            let (key, resets_at) =
                account::counter(&user, "messages_per_day", metered, Some(&e), now);
            let (d, change) = consume(metered, messages, black_box(&busy), 1, None, now).unwrap();
            let body = account::answer(
                &user,
                "messages_per_day",
                Some(metered),
                &e.plan,
                messages,
                &d,
                resets_at,
            );
            (key, change, serde_json::to_string(&body).unwrap())
        })
    });
    // An organization's member under a per-member cap: both counters decided, the member's key, the answer
    // with its `member` part — beside the user's line above, in the same run.
    let org = SubjectId::parse("org_2abcDEFghiJKLmnoPQRstuVWxyz").unwrap();
    let member_id = entitle_domain::ids::UserId::parse("user_2abcDEFghiJKLmnoPQRstuVWxyz").unwrap();
    let team = Entitlements::on_plan(org.clone(), catalog.plan("team").unwrap(), Status::Active);
    let pool = account::allowance(catalog, &team, "messages_per_day");
    let cap = member::cap(catalog, &team, "messages_per_day").expect("the team plan caps members");
    let mine = counter(20, &[(1, NOW + 60)]);
    group.bench_function(
        "consume metered for a member (pool + cap) + keys + JSON answer",
        |b| {
            b.iter(|| {
                let (key, resets_at) =
                    account::counter(&org, "messages_per_day", metered, Some(&team), now);
                let member_key = member::counter(&key, &member_id);
                let p = member::consume(
                    metered,
                    pool,
                    black_box(&busy),
                    (cap, black_box(&mine)),
                    1,
                    None,
                    now,
                )
                .unwrap();
                let mut body = account::answer(
                    &org,
                    "messages_per_day",
                    Some(metered),
                    &team.plan,
                    pool,
                    &p.pool,
                    resets_at,
                );
                body.member = Some(MemberUsage::of(&member_id, cap, &p.member));
                (
                    key,
                    member_key,
                    p.changes,
                    serde_json::to_string(&body).unwrap(),
                )
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
