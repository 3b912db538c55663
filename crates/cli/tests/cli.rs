//! The `entitle` binary, run as an operator runs it, against the local Stripe stand-in: its output and exit
//! codes, and what it leaves in Stripe.
use entitle_core::stripe::StripeClient;
use entitle_domain::catalog_sync::Remote;
use entitle_test_support::stripe::FakeStripe;
use secrecy::SecretString;
use std::path::PathBuf;
use std::process::{Command, Output};

fn entitle(stripe: Option<&FakeStripe>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_entitle"));
    command.args(args).env_remove("PLAN_CATALOG");
    if let Some(stripe) = stripe {
        command
            .env("STRIPE_SECRET_KEY", &stripe.api_key)
            .env("STRIPE_API_BASE", &stripe.base_url);
    } else {
        command.env_remove("STRIPE_SECRET_KEY");
    }
    command.output().expect("the entitle binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("an exit code")
}

/// A copy of the shipped catalog with `edit` applied, in a temporary file.
fn catalog_file(name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = edit(include_str!("../../../config/plans.toml").to_owned());
    let path = std::env::temp_dir().join(format!("entitle-cli-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

async fn remote(stripe: &FakeStripe) -> Remote {
    StripeClient::new(
        SecretString::from(stripe.api_key.clone()),
        stripe.base_url.clone(),
    )
    .catalog_remote()
    .await
    .unwrap()
}

#[test]
fn check_validates_and_bad_input_gets_a_clear_message_and_a_meaningful_code() {
    let ok = entitle(None, &["catalog", "check"]);
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    assert!(
        stdout(&ok).contains("the catalog is valid"),
        "{}",
        stdout(&ok)
    );

    let bad = catalog_file("bad", |t| {
        t.replace("kind = \"allocated\"", "kind = \"sometimes\"")
    });
    let out = entitle(
        None,
        &["catalog", "check", "--catalog", bad.to_str().unwrap()],
    );
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("is invalid"), "{}", stderr(&out));

    let usage = entitle(None, &["catalog", "frobnicate"]);
    assert_eq!(code(&usage), 2, "bad usage");
    let missing = entitle(None, &["catalog", "plan"]);
    assert_eq!(code(&missing), 1);
    assert!(
        stderr(&missing).contains("STRIPE_SECRET_KEY"),
        "names what is missing: {}",
        stderr(&missing)
    );
    assert!(
        !stderr(&missing).contains("the function"),
        "worded for an operator: {}",
        stderr(&missing)
    );

    // A USER_ID that is not a Clerk user id is bad usage, refused before any stack or table is read.
    for args in [
        &["reconcile", "not_a_user"][..],
        &["usage", "bad"],
        &["customer", "sync", "x"],
    ] {
        let out = entitle(None, args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        let text = stderr(&out);
        assert!(
            text.contains("invalid value") && text.contains("user_2abc"),
            "{text}"
        );
        assert!(!text.contains("reading"), "nothing was read: {text}");
    }
}

#[tokio::test]
async fn plan_on_an_empty_account_lists_everything_apply_makes_it_and_a_second_apply_changes_nothing(
) {
    let stripe = FakeStripe::start();
    let plan = entitle(Some(&stripe), &["catalog", "plan"]);
    assert_eq!(code(&plan), 3, "changes found: {}", stderr(&plan));
    let text = stdout(&plan);
    for line in [
        "+ product starter (Starter)",
        "+ product professional (Professional)",
        "+ product enterprise (Enterprise)",
        "+ product team_pack (Team pack)",
        "+ product credits_1000 (1,000 credits)",
        "+ price starter_monthly (starter): 4900 usd / month",
        "+ price pro_yearly (professional): 199000 usd / year",
        "+ price credits_5000 (credits_5000): 7900 usd one-time",
        "+ feature sso",
        "+ feature audit_log on product team_pack",
        "(left alone) enterprise price enterprise_monthly",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    let json = entitle(Some(&stripe), &["catalog", "plan", "--json"]);
    assert_eq!(code(&json), 3);
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let planned = parsed["actions"].as_array().unwrap().len();

    let not_confirmed = entitle(Some(&stripe), &["catalog", "apply"]);
    assert_eq!(
        code(&not_confirmed),
        2,
        "no terminal to confirm on: {}",
        stderr(&not_confirmed)
    );
    assert!(
        remote(&stripe).await.products.is_empty(),
        "nothing applied without --yes"
    );

    let apply = entitle(Some(&stripe), &["catalog", "apply", "--yes"]);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    assert!(stdout(&apply).contains(&format!("applied {planned} changes")));

    let after = remote(&stripe).await;
    assert_eq!(after.products.len(), 7, "five paid plans and two packs");
    assert!(after
        .products
        .iter()
        .all(|p| p.entitle.is_some() && p.active));
    let starter = after
        .prices
        .iter()
        .find(|p| p.lookup_key.as_deref() == Some("starter_monthly"))
        .unwrap();
    assert_eq!(
        (starter.unit_amount, starter.currency.as_str()),
        (Some(4900), "usd")
    );
    let pro = after
        .products
        .iter()
        .find(|p| p.entitle.as_deref() == Some("professional"))
        .unwrap();
    let mut features: Vec<&str> = pro.features.iter().map(|(_, f)| f.as_str()).collect();
    features.sort();
    assert_eq!(features, ["agents", "api_access", "priority_support"]);

    for _ in 0..2 {
        let again = entitle(Some(&stripe), &["catalog", "plan"]);
        assert_eq!(code(&again), 0, "{}", stdout(&again));
        assert!(stdout(&again).contains("no changes"));
        let reapply = entitle(Some(&stripe), &["catalog", "apply", "--yes"]);
        assert_eq!(code(&reapply), 0);
        assert!(
            stdout(&reapply).contains("no changes"),
            "{}",
            stdout(&reapply)
        );
    }
    assert_eq!(
        remote(&stripe).await,
        after,
        "a second apply changes nothing"
    );
}

#[tokio::test]
async fn a_changed_amount_moves_the_lookup_key_to_a_new_price_and_a_dropped_plan_and_pack_are_archived(
) {
    let stripe = FakeStripe::start();
    assert_eq!(
        code(&entitle(Some(&stripe), &["catalog", "apply", "--yes"])),
        0
    );
    let client = StripeClient::new(
        SecretString::from(stripe.api_key.clone()),
        stripe.base_url.clone(),
    );
    // Objects that are not Entitle's: a product and a price made by hand.
    let product = client
        .post_form(
            "/v1/products",
            &[("name", "T-shirt".into())],
            "hand-product",
        )
        .await
        .unwrap();
    client
        .post_form(
            "/v1/prices",
            &[
                ("product", product["id"].as_str().unwrap().to_owned()),
                ("unit_amount", "2000".into()),
                ("currency", "usd".into()),
                ("lookup_key", "tshirt".into()),
            ],
            "hand-price",
        )
        .await
        .unwrap();
    let before = remote(&stripe).await;
    let old = before
        .prices
        .iter()
        .find(|p| p.lookup_key.as_deref() == Some("starter_monthly"))
        .unwrap()
        .id
        .clone();

    let changed = catalog_file("changed", |t| {
        let t = t.replace("amount = 4900", "amount = 5900");
        let pack = t.find("[[credit_packs]]\nid = \"credits_5000\"").unwrap();
        let t = t[..pack].to_owned();
        // The enterprise plan dropped too: from its `[[plans]]` to the next one.
        let start = t.find("[[plans]]\nid = \"enterprise\"").unwrap();
        let end = start + 1 + t[start + 1..].find("[[plans]]").unwrap();
        format!("{}{}", &t[..start], &t[end..])
    });
    let path = changed.to_str().unwrap();
    let plan = entitle(Some(&stripe), &["catalog", "plan", "--catalog", path]);
    assert_eq!(code(&plan), 3);
    let text = stdout(&plan);
    assert!(
        text.contains(&format!(
            "+ price starter_monthly (starter): 5900 usd / month, replacing {old}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("- price starter_monthly ({old}): archive")),
        "{text}"
    );
    assert!(text.contains("- product credits_5000"), "{text}");
    assert!(text.contains("- product enterprise"), "{text}");
    assert!(
        !text.contains("tshirt") && !text.contains("T-shirt"),
        "objects without metadata.entitle are left alone"
    );

    assert_eq!(
        code(&entitle(
            Some(&stripe),
            &["catalog", "apply", "--yes", "--catalog", path]
        )),
        0
    );
    let after = remote(&stripe).await;
    let holding: Vec<_> = after
        .prices
        .iter()
        .filter(|p| p.lookup_key.as_deref() == Some("starter_monthly"))
        .collect();
    assert_eq!(holding.len(), 1, "one price holds the lookup key");
    assert_eq!(
        (holding[0].unit_amount, holding[0].active),
        (Some(5900), true)
    );
    assert_ne!(holding[0].id, old);
    let archived = after.prices.iter().find(|p| p.id == old).unwrap();
    assert!(!archived.active, "the old price is archived, never deleted");
    let pack = after
        .products
        .iter()
        .find(|p| p.entitle.as_deref() == Some("credits_5000"))
        .unwrap();
    assert!(!pack.active);
    let enterprise = after
        .products
        .iter()
        .find(|p| p.entitle.as_deref() == Some("enterprise"))
        .unwrap();
    assert!(!enterprise.active, "a dropped plan's product is archived");
    let tshirt = after
        .prices
        .iter()
        .find(|p| p.lookup_key.as_deref() == Some("tshirt"))
        .unwrap();
    assert!(tshirt.active);
    assert_eq!(
        code(&entitle(
            Some(&stripe),
            &["catalog", "plan", "--catalog", path]
        )),
        0
    );
}

/// The shipped catalog with overage on the starter plan's messages: `unit_amount` per 100 beyond 1,000 a day.
fn with_overage(name: &str, unit_amount: u32) -> PathBuf {
    catalog_file(name, |t| {
        let limits = "agents = 3\nmessages_per_day = 1_000\n";
        assert!(t.contains(limits), "the shipped starter plan's limits");
        t.replacen(
            limits,
            &format!(
                "{limits}\n[plans.overage]\nmessages_per_day = {{ unit_amount = {unit_amount}, per = 100, currency = \"usd\" }}\n"
            ),
            1,
        )
    })
}

#[tokio::test]
async fn overage_is_a_meter_and_metered_prices_replaced_when_changed_and_a_dropped_meter_deactivated(
) {
    let stripe = FakeStripe::start();
    let one = with_overage("overage-1", 1);
    let one = one.to_str().unwrap();
    let plan = entitle(Some(&stripe), &["catalog", "plan", "--catalog", one]);
    assert_eq!(code(&plan), 3, "{}", stderr(&plan));
    let text = stdout(&plan);
    for line in [
        "+ meter entitle_messages_per_day (Messages per day)",
        "+ metered price starter_messages_per_day_overage_month (starter): 1 usd per 100 messages_per_day beyond the plan / month",
        "+ metered price starter_messages_per_day_overage_year (starter): 1 usd per 100 messages_per_day beyond the plan / year",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    let apply = entitle(
        Some(&stripe),
        &["catalog", "apply", "--yes", "--catalog", one],
    );
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));

    let after = remote(&stripe).await;
    assert_eq!(after.meters.len(), 1);
    let meter = &after.meters[0];
    assert_eq!(
        (meter.event_name.as_str(), meter.active),
        ("entitle_messages_per_day", true)
    );
    let starter = after
        .products
        .iter()
        .find(|p| p.entitle.as_deref() == Some("starter"))
        .unwrap();
    let overage = |remote: &Remote, key: &str| {
        remote
            .prices
            .iter()
            .find(|p| p.lookup_key.as_deref() == Some(key))
            .cloned()
            .unwrap_or_else(|| panic!("no price holds {key}"))
    };
    let month = overage(&after, "starter_messages_per_day_overage_month");
    assert_eq!(
        (
            month.product.as_str(),
            month.unit_amount,
            month.divide_by,
            month.meter.as_deref(),
            month.interval,
            month.entitle.as_deref()
        ),
        (
            starter.id.as_str(),
            Some(1),
            Some(100),
            Some(meter.id.as_str()),
            Some(entitle_domain::plans::Interval::Month),
            Some("starter")
        )
    );
    let again = entitle(Some(&stripe), &["catalog", "plan", "--catalog", one]);
    assert_eq!(code(&again), 0, "{}", stdout(&again));
    assert!(stdout(&again).contains("no changes"));

    // A changed unit amount: new metered prices take the lookup keys, the old ones are archived.
    let two = with_overage("overage-2", 2);
    let two = two.to_str().unwrap();
    let plan = entitle(Some(&stripe), &["catalog", "plan", "--catalog", two]);
    assert_eq!(code(&plan), 3);
    let text = stdout(&plan);
    assert!(
        text.contains(&format!(
            "+ metered price starter_messages_per_day_overage_month (starter): 2 usd per 100 messages_per_day beyond the plan / month, replacing {}",
            month.id
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "- price starter_messages_per_day_overage_month ({}): archive",
            month.id
        )),
        "{text}"
    );
    assert!(!text.contains("meter entitle"), "the meter stays: {text}");
    assert_eq!(
        code(&entitle(
            Some(&stripe),
            &["catalog", "apply", "--yes", "--catalog", two]
        )),
        0
    );
    let after = remote(&stripe).await;
    let new = overage(&after, "starter_messages_per_day_overage_month");
    assert_ne!(new.id, month.id);
    assert_eq!((new.unit_amount, new.active), (Some(2), true));
    let old = after.prices.iter().find(|p| p.id == month.id).unwrap();
    assert!(!old.active, "the old metered price is archived");
    assert_eq!(
        code(&entitle(
            Some(&stripe),
            &["catalog", "plan", "--catalog", two]
        )),
        0
    );

    // Overage dropped: its prices archived, its meter deactivated (meters cannot be deleted); back again:
    // the same meter reactivated.
    let plan = entitle(Some(&stripe), &["catalog", "apply", "--yes"]);
    assert_eq!(code(&plan), 0, "{}", stderr(&plan));
    assert!(
        stdout(&plan).contains("- meter entitle_messages_per_day"),
        "{}",
        stdout(&plan)
    );
    let after = remote(&stripe).await;
    assert!(!after.meters[0].active);
    assert!(after
        .prices
        .iter()
        .filter(|p| p.meter.is_some())
        .all(|p| !p.active));
    let back = entitle(
        Some(&stripe),
        &["catalog", "apply", "--yes", "--catalog", two],
    );
    assert_eq!(code(&back), 0, "{}", stderr(&back));
    assert!(stdout(&back).contains("~ meter entitle_messages_per_day: reactivate"));
    let after = remote(&stripe).await;
    assert_eq!(after.meters.len(), 1);
    assert!(after.meters[0].active);
    assert_eq!(
        code(&entitle(
            Some(&stripe),
            &["catalog", "plan", "--catalog", two]
        )),
        0
    );
}
