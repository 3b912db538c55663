//! The sync plan against a fake Stripe account: what `apply` would leave, and that a second plan is empty.
use super::*;
use crate::plans::Interval;

const CATALOG: &str = r#"
[limits]
seats = { kind = "allocated" }

[[plans]]
id = "free"
name = "Free"
default = true

[[plans]]
id = "pro"
name = "Pro"
features = ["sso", "api"]

[[plans.prices]]
lookup_key = "pro_monthly"
interval = "month"
amount = 1900
currency = "usd"

[[plans.prices]]
id = "price_negotiated"
interval = "year"

[[credit_packs]]
id = "credits_100"
name = "100 credits"
credits = 100

[[credit_packs.prices]]
lookup_key = "credits_100"
amount = 500
currency = "usd"
"#;

fn catalog(text: &str) -> PlanCatalog {
    PlanCatalog::parse(text).unwrap()
}

/// What Stripe holds after `plan`'s actions, as `apply` would leave it.
fn applied(catalog: &PlanCatalog, remote: Remote) -> Remote {
    let actions = plan(catalog, &remote).actions;
    let mut stripe = FakeStripe { remote, n: 0 };
    for action in actions {
        stripe.apply(action);
    }
    stripe.remote
}

/// A Stripe account that takes actions as `entitle catalog apply` sends them, numbering the ids it makes.
struct FakeStripe {
    remote: Remote,
    n: usize,
}

impl FakeStripe {
    fn id(&mut self, prefix: &str) -> String {
        self.n += 1;
        format!("{prefix}_{}", self.n)
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::CreateFeature { lookup_key, name } => {
                let id = self.id("feat");
                self.remote.features.push(RemoteFeature {
                    id,
                    lookup_key,
                    name,
                    active: true,
                    entitle: true,
                })
            }
            Action::ReactivateFeature { id, .. } => self.feature(&id).active = true,
            Action::ArchiveFeature { id, .. } => self.feature(&id).active = false,
            Action::CreateProduct { owner, name } => {
                let id = self.id("prod");
                self.remote.products.push(RemoteProduct {
                    id,
                    name,
                    active: true,
                    entitle: Some(owner),
                    features: vec![],
                })
            }
            Action::UpdateProduct { id, name, .. } => {
                let p = self.product(&id);
                p.name = name;
                p.active = true;
            }
            Action::ArchiveProduct { id, .. } => self.product(&id).active = false,
            Action::AttachFeature { owner, feature } => {
                let attachment = self.id("prodft");
                let product = self.product_of(&owner).id.clone();
                self.product(&product).features.push((attachment, feature));
            }
            Action::DetachFeature {
                product,
                attachment,
                ..
            } => self
                .product(&product)
                .features
                .retain(|(a, _)| *a != attachment),
            Action::ReactivateMeter { id, .. } | Action::DeactivateMeter { id, .. } => {
                let meter = self.remote.meters.iter_mut().find(|m| m.id == id).unwrap();
                meter.active = !meter.active;
            }
            action => self.apply_price_or_meter(action),
        }
    }

    fn apply_price_or_meter(&mut self, action: Action) {
        match action {
            Action::CreatePrice {
                owner,
                lookup_key,
                amount,
                currency,
                interval,
                ..
            } => self.create_price(RemotePrice {
                id: String::new(),
                product: String::new(),
                active: true,
                lookup_key: Some(lookup_key),
                unit_amount: Some(amount),
                currency,
                interval,
                entitle: Some(owner),
                meter: None,
                divide_by: None,
            }),
            Action::ArchivePrice { id, .. } => {
                self.remote
                    .prices
                    .iter_mut()
                    .find(|p| p.id == id)
                    .unwrap()
                    .active = false
            }
            Action::CreateMeter {
                event_name,
                display_name,
            } => {
                let id = self.id("mtr");
                self.remote.meters.push(RemoteMeter {
                    id,
                    event_name,
                    display_name,
                    active: true,
                })
            }
            Action::CreateMeteredPrice {
                owner,
                event_name,
                lookup_key,
                unit_amount,
                per,
                currency,
                interval,
                ..
            } => {
                let meter = self
                    .remote
                    .meters
                    .iter()
                    .find(|m| m.active && m.event_name == event_name)
                    .unwrap()
                    .id
                    .clone();
                self.create_price(RemotePrice {
                    id: String::new(),
                    product: String::new(),
                    active: true,
                    lookup_key: Some(lookup_key),
                    unit_amount: Some(unit_amount),
                    currency,
                    interval: Some(interval),
                    entitle: Some(owner),
                    meter: Some(meter),
                    divide_by: (per > 1).then_some(per),
                })
            }
            other => unreachable!("{other:?} is not a price or meter action"),
        }
    }

    /// `price` on the product of its owner (`entitle`), taking its lookup key from the price holding it.
    fn create_price(&mut self, mut price: RemotePrice) {
        price.product = self
            .product_of(price.entitle.as_deref().unwrap())
            .id
            .clone();
        for other in &mut self.remote.prices {
            if other.lookup_key == price.lookup_key {
                other.lookup_key = None;
            }
        }
        price.id = self.id("price");
        self.remote.prices.push(price);
    }

    /// The active product marked with `owner`.
    fn product_of(&self, owner: &str) -> &RemoteProduct {
        self.remote
            .products
            .iter()
            .find(|p| p.active && p.entitle.as_deref() == Some(owner))
            .unwrap()
    }

    fn product(&mut self, id: &str) -> &mut RemoteProduct {
        self.remote
            .products
            .iter_mut()
            .find(|p| p.id == id)
            .unwrap()
    }

    fn feature(&mut self, id: &str) -> &mut RemoteFeature {
        self.remote
            .features
            .iter_mut()
            .find(|f| f.id == id)
            .unwrap()
    }
}

/// CATALOG with a metered limit the pro plan includes 1,000 of and bills beyond: 2 cents per 100.
fn with_overage() -> String {
    CATALOG
            .replace(
                "seats = { kind = \"allocated\" }",
                "seats = { kind = \"allocated\" }\nmessages = { kind = \"metered\", resets = \"month\" }",
            )
            .replace(
                "features = [\"sso\", \"api\"]",
                "features = [\"sso\", \"api\"]\n[plans.limits]\nmessages = 1000\n[plans.overage]\nmessages = { unit_amount = 2, per = 100, currency = \"usd\" }",
            )
}

#[test]
fn overage_gets_a_meter_and_a_metered_price_per_interval_and_a_second_plan_finds_nothing() {
    let catalog = catalog(&with_overage());
    let first = plan(&catalog, &Remote::default());
    let lines: Vec<String> = first.actions.iter().map(Action::describe).collect();
    for line in [
            "+ meter entitle_messages (Messages)",
            "+ metered price pro_messages_overage_month (pro): 2 usd per 100 messages beyond the plan / month",
            "+ metered price pro_messages_overage_year (pro): 2 usd per 100 messages beyond the plan / year",
        ] {
            assert!(lines.iter().any(|l| l == line), "{line:?} not in {lines:#?}");
        }
    let meter = lines.iter().position(|l| l.starts_with("+ meter")).unwrap();
    let price = lines
        .iter()
        .position(|l| l.starts_with("+ metered"))
        .unwrap();
    assert!(meter < price, "the meter before the prices on it");
    let remote = applied(&catalog, Remote::default());
    assert_eq!(plan(&catalog, &remote).actions, []);
    let month = remote
        .prices
        .iter()
        .find(|p| p.lookup_key.as_deref() == Some("pro_messages_overage_month"))
        .unwrap();
    assert_eq!(month.divide_by, Some(100));
    assert_eq!(month.meter.as_deref(), Some(remote.meters[0].id.as_str()));
}

#[test]
fn a_changed_overage_is_a_new_metered_price_and_a_dropped_one_deactivates_its_meter() {
    let before = catalog(&with_overage());
    let remote = applied(&before, Remote::default());
    let old = |remote: &Remote, key: &str| {
        remote
            .prices
            .iter()
            .find(|p| p.lookup_key.as_deref() == Some(key))
            .unwrap()
            .id
            .clone()
    };
    let month = old(&remote, "pro_messages_overage_month");
    let year = old(&remote, "pro_messages_overage_year");
    for edit in ["unit_amount = 3, per = 100", "unit_amount = 2, per = 1000"] {
        let after = catalog(&with_overage().replace("unit_amount = 2, per = 100", edit));
        let changes = plan(&after, &remote).actions;
        assert_eq!(changes.len(), 4, "{changes:#?}");
        assert!(changes.iter().any(|a| matches!(a,
                Action::CreateMeteredPrice { lookup_key, replaces: Some(r), .. }
                    if lookup_key == "pro_messages_overage_month" && *r == month)));
        for id in [&month, &year] {
            assert!(changes
                .iter()
                .any(|a| matches!(a, Action::ArchivePrice { id: i, .. } if i == id)));
        }
        let remote = applied(&after, remote.clone());
        assert_eq!(plan(&after, &remote).actions, []);
    }

    let dropped = catalog(&CATALOG.replace(
        "seats = { kind = \"allocated\" }",
        "seats = { kind = \"allocated\" }\nmessages = { kind = \"metered\", resets = \"month\" }",
    ));
    let changes: Vec<String> = plan(&dropped, &remote)
        .actions
        .iter()
        .map(Action::describe)
        .collect();
    assert_eq!(changes.len(), 3, "{changes:#?}");
    assert!(changes[0].starts_with("- price pro_messages_overage_month"));
    assert!(changes[1].starts_with("- price pro_messages_overage_year"));
    assert!(changes[2].starts_with("- meter entitle_messages"));
    assert!(changes[2].ends_with("deactivate, no longer in the catalog"));
    let remote = applied(&dropped, remote);
    assert!(!remote.meters[0].active);
    assert_eq!(plan(&dropped, &remote).actions, []);

    let back = catalog(&with_overage());
    let changes: Vec<String> = plan(&back, &remote)
        .actions
        .iter()
        .map(Action::describe)
        .collect();
    assert_eq!(changes[0], "~ meter entitle_messages: reactivate");
    let remote = applied(&back, remote);
    assert!(remote.meters[0].active, "reactivated, not a second meter");
    assert_eq!(remote.meters.len(), 1);
    assert_eq!(plan(&back, &remote).actions, []);
}

#[test]
fn a_meter_that_is_not_entitles_is_left_alone() {
    let catalog = catalog(CATALOG);
    let remote = Remote {
        meters: vec![RemoteMeter {
            id: "mtr_hand".into(),
            event_name: "api_calls".into(),
            display_name: "API calls".into(),
            active: true,
        }],
        ..Remote::default()
    };
    assert!(plan(&catalog, &remote)
        .actions
        .iter()
        .all(|a| !a.describe().contains("api_calls")));
}

#[test]
fn an_empty_account_gets_everything_and_a_second_plan_finds_nothing() {
    let catalog = catalog(CATALOG);
    let first = plan(&catalog, &Remote::default());
    let lines: Vec<String> = first.actions.iter().map(Action::describe).collect();
    assert_eq!(
        lines,
        [
            "+ feature api",
            "+ feature sso",
            "+ product pro (Pro)",
            "+ product credits_100 (100 credits)",
            "+ price pro_monthly (pro): 1900 usd / month",
            "+ price credits_100 (credits_100): 500 usd one-time",
            "+ feature api on product pro",
            "+ feature sso on product pro",
        ]
    );
    assert_eq!(first.unmanaged.len(), 1, "the negotiated price is Stripe's");
    let remote = applied(&catalog, Remote::default());
    assert_eq!(plan(&catalog, &remote).actions, []);
}

#[test]
fn a_changed_amount_is_a_new_price_taking_the_key_and_the_old_one_archived() {
    let before = catalog(CATALOG);
    let remote = applied(&before, Remote::default());
    let old = remote
        .prices
        .iter()
        .find(|p| p.lookup_key.as_deref() == Some("pro_monthly"))
        .unwrap()
        .id
        .clone();
    let after = catalog(&CATALOG.replace("amount = 1900", "amount = 2400"));
    let changes = plan(&after, &remote).actions;
    assert_eq!(changes.len(), 2, "{changes:#?}");
    assert!(
        matches!(&changes[0], Action::CreatePrice { amount: 2400, replaces: Some(r), .. } if *r == old)
    );
    assert!(matches!(&changes[1], Action::ArchivePrice { id, .. } if *id == old));
    let remote = applied(&after, remote);
    assert_eq!(plan(&after, &remote).actions, []);
}

#[test]
fn a_dropped_plan_is_archived_and_unmarked_objects_are_left_alone() {
    let before = catalog(CATALOG);
    let mut remote = applied(&before, Remote::default());
    remote.products.push(RemoteProduct {
        id: "prod_by_hand".into(),
        name: "T-shirt".into(),
        active: true,
        entitle: None,
        features: vec![],
    });
    remote.prices.push(RemotePrice {
        id: "price_by_hand".into(),
        product: "prod_by_hand".into(),
        active: true,
        lookup_key: Some("tshirt".into()),
        unit_amount: Some(2000),
        currency: "usd".into(),
        interval: None,
        entitle: None,
        meter: None,
        divide_by: None,
    });
    let without_packs = catalog(&CATALOG[..CATALOG.find("[[credit_packs]]").unwrap()]);
    let changes: Vec<String> = plan(&without_packs, &remote)
        .actions
        .iter()
        .map(Action::describe)
        .collect();
    assert_eq!(changes.len(), 2, "{changes:#?}");
    assert!(changes[0].starts_with("- price credits_100"));
    assert!(changes[1].starts_with("- product credits_100"));
    assert!(changes.iter().all(|c| !c.contains("by_hand")));
}

#[test]
fn a_hand_made_price_holding_a_key_is_adopted_when_alike_and_never_touched_otherwise() {
    let catalog = catalog(CATALOG);
    let hand = |amount| RemotePrice {
        id: "price_hand".into(),
        product: "prod_hand".into(),
        active: true,
        lookup_key: Some("pro_monthly".into()),
        unit_amount: Some(amount),
        currency: "usd".into(),
        interval: Some(Interval::Month),
        entitle: None,
        meter: None,
        divide_by: None,
    };
    let alike = Remote {
        prices: vec![hand(1900)],
        ..Remote::default()
    };
    let p = plan(&catalog, &alike);
    assert!(p.actions.iter().all(
        |a| !matches!(a, Action::CreatePrice { lookup_key, .. } if lookup_key == "pro_monthly")
    ));
    let other = Remote {
        prices: vec![hand(999)],
        ..Remote::default()
    };
    let p = plan(&catalog, &other);
    assert!(p.actions.iter().all(
        |a| !matches!(a, Action::CreatePrice { lookup_key, .. } if lookup_key == "pro_monthly")
            && !matches!(a, Action::ArchivePrice { id, .. } if id == "price_hand")
    ));
    assert!(p.unmanaged.iter().any(|u| u.price == "pro_monthly"));
}

#[test]
fn a_feature_a_plan_no_longer_grants_is_detached_and_archived_when_nobody_grants_it() {
    let before = catalog(CATALOG);
    let remote = applied(&before, Remote::default());
    let after = catalog(&CATALOG.replace(r#"features = ["sso", "api"]"#, r#"features = ["api"]"#));
    let changes: Vec<String> = plan(&after, &remote)
        .actions
        .iter()
        .map(Action::describe)
        .collect();
    assert_eq!(
        changes,
        [
            "- feature sso off product pro",
            "- feature sso: archive, no longer in the catalog"
        ]
    );
}
