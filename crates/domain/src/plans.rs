//! The plan catalog — plans as code: which Stripe prices exist, what each plan grants (features and limits)
//! and what each one-time credit pack adds.
//!
//! The catalog is TOML (`config/plans.toml` is the built-in one, compiled in; `PLAN_CATALOG` names another
//! file). It is parsed and validated once, at cold start, so a broken catalog fails the deploy's smoke test
//! rather than a customer's request:
//!
//! ```toml
//! [[plans]]
//! id = "free"                      # snake_case, unique among plans and packs
//! name = "Free"
//! default = true                   # exactly one plan: what a user has without a subscription; no prices
//! features = ["agents"]
//! [plans.limits]
//! agents = 1                       # a non-negative integer…
//! messages_per_day = "unlimited"   # …or "unlimited"
//!
//! [[plans]]
//! id = "starter"
//! name = "Starter"
//! contact_sales = false            # true: sold by sales, not self-serve; may then have no prices
//! [[plans.prices]]                 # recurring: `interval` is required
//! id = "price_1Starter…"           # a Stripe price id, a lookup key, or both
//! lookup_key = "starter_monthly"
//! interval = "month"               # day | week | month | year
//! amount = 4900                    # optional, display only: smallest currency unit
//! currency = "usd"                 # optional, display only
//! trial_days = 14                  # optional: a free trial, 1..=730 days
//! trial_requires_payment_method = false  # optional (default true): no card needed to start the trial
//! [plans.overage]                  # optional: usage beyond a metered limit's included amount is billed
//! messages_per_day = { unit_amount = 1, per = 100, currency = "usd" }  # 1 cent per 100 units beyond it
//!
//! [[credit_packs]]
//! id = "credits_1000"
//! name = "1,000 credits"
//! credits = 1000                   # > 0; a purchase adds credits × quantity
//! max_quantity = 10                # optional, default 1
//! [[credit_packs.prices]]          # one-time: no `interval`
//! lookup_key = "credits_1000"
//! ```
//!
//! Every price id and lookup key appears once in the whole catalog, so a reference resolves to exactly one
//! plan or pack. Unknown keys are rejected, so a typo fails loudly instead of being ignored.
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::LazyLock;

use crate::usage::{LimitDecl, LimitKind, Period};

/// The environment variable naming a catalog file to use instead of the built-in one.
pub const PLAN_CATALOG_ENV: &str = "PLAN_CATALOG";

const BUILTIN_TOML: &str = include_str!("../../../config/plans.toml");

#[cfg(test)]
pub(crate) const BUILTIN_TOML_FOR_TESTS: &str = BUILTIN_TOML;

static BUILTIN: LazyLock<PlanCatalog> = LazyLock::new(|| {
    PlanCatalog::parse(BUILTIN_TOML)
        .unwrap_or_else(|e| panic!("the built-in plan catalog config/plans.toml is invalid: {e}"))
});

/// A validated plan catalog. Only [`PlanCatalog::parse`] builds one, so every catalog in hand has exactly
/// one free default plan and unambiguous prices.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanCatalog {
    plans: Vec<Plan>,
    credit_packs: Vec<CreditPack>,
    /// Index of the default plan in `plans`.
    default: usize,
    /// Every limit's kind, declared once in `[limits]`.
    limit_decls: BTreeMap<String, LimitDecl>,
}

/// A subscription tier: what it grants and the Stripe prices that sell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub id: String,
    pub name: String,
    /// The free plan everyone has without a subscription.
    pub default: bool,
    /// Sold by sales rather than through self-serve checkout.
    pub contact_sales: bool,
    /// An add-on: bought beside a base plan (or the free plan), its features join the base plan's and its
    /// limits add to them, per unit of quantity.
    pub addon: bool,
    /// Which base plan wins when several are live at once: the highest rank. The catalog's `rank`, or else
    /// the plan's position in the catalog (later plans rank higher).
    pub rank: i64,
    pub features: BTreeSet<String>,
    pub limits: BTreeMap<String, Limit>,
    pub prices: Vec<CatalogPrice>,
    /// Metered limits whose use beyond the included amount is billed (through a Stripe meter and a metered
    /// price on the plan's product), by limit name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub overage: BTreeMap<String, Overage>,
}

/// What a plan charges for use of a metered limit beyond its included amount: `unit_amount` (smallest
/// currency unit) per `per` units, rounded up (`unit_amount = 1, per = 100`: 1 cent per 100 units or part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overage {
    pub unit_amount: u64,
    pub per: u64,
    pub currency: String,
}

/// One metered Stripe price that bills a plan's overage of a limit, for one billing interval of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OveragePrice<'a> {
    pub plan: &'a str,
    pub limit: &'a str,
    pub interval: Interval,
    /// `<plan>_<limit>_overage_<interval>`.
    pub lookup_key: String,
    pub overage: &'a Overage,
}

/// The Stripe billing meter's event name for a limit's overage: `entitle_<limit>`.
pub fn meter_event_name(limit: &str) -> String {
    format!("entitle_{limit}")
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
            Interval::Year => "year",
        }
    }
}

impl Plan {
    /// The metered prices that bill this plan's overage: one per limit with overage and per interval of the
    /// plan's prices, in the catalog's order (limit by name, then interval as the prices list them).
    pub fn overage_prices(&self) -> Vec<OveragePrice<'_>> {
        let mut intervals: Vec<Interval> = Vec::new();
        for interval in self.prices.iter().filter_map(|p| p.interval) {
            if !intervals.contains(&interval) {
                intervals.push(interval);
            }
        }
        self.overage
            .iter()
            .flat_map(|(limit, overage)| {
                intervals.iter().map(move |interval| OveragePrice {
                    plan: &self.id,
                    limit,
                    interval: *interval,
                    lookup_key: format!("{}_{limit}_overage_{}", self.id, interval.as_str()),
                    overage,
                })
            })
            .collect()
    }
}

/// A one-time purchase that adds `credits` × quantity to the buyer's balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditPack {
    pub id: String,
    pub name: String,
    pub credits: u64,
    /// The most packs one checkout may buy.
    pub max_quantity: u32,
    pub prices: Vec<CatalogPrice>,
}

/// A Stripe price, named by id, lookup key or both. `amount` and `currency` are for display: Stripe charges
/// what the price says there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all(serialize = "camelCase", deserialize = "snake_case"),
    deny_unknown_fields
)]
pub struct CatalogPrice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_key: Option<String>,
    /// Set on a plan's (recurring) prices, never on a credit pack's (one-time) prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    /// In the currency's smallest unit (cents for USD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Days of free trial a checkout of this (recurring) price starts with (Stripe allows 1 to 730).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_days: Option<u32>,
    /// With `trial_days`: whether Checkout collects a payment method before the trial (default `true`).
    /// Without one, a trial that ends with no payment method is canceled by Stripe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_requires_payment_method: Option<bool>,
}

impl CatalogPrice {
    /// The price id when known, else the lookup key: how this price is named in messages and in Stripe
    /// requests (a lookup key must then be resolved to an id through Stripe's price list).
    pub fn reference(&self) -> &str {
        self.id
            .as_deref()
            .or(self.lookup_key.as_deref())
            .unwrap_or_default()
    }

    /// Whether `reference` is this price's id or its lookup key.
    pub fn matches(&self, reference: &str) -> bool {
        self.id.as_deref() == Some(reference) || self.lookup_key.as_deref() == Some(reference)
    }
}

/// How often a recurring price bills, as Stripe names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

/// A limit on a quantity: a number, or no limit at all. In TOML and JSON an integer or the string
/// `"unlimited"`. Ordered so that `Unlimited` is above every finite limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Limit {
    Finite(u64),
    Unlimited,
}

impl Limit {
    /// Whether `amount` is within the limit.
    pub fn allows(self, amount: u64) -> bool {
        match self {
            Limit::Finite(max) => amount <= max,
            Limit::Unlimited => true,
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Finite(n) => write!(f, "{n}"),
            Limit::Unlimited => f.write_str("unlimited"),
        }
    }
}

impl Serialize for Limit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Limit::Finite(n) => serializer.serialize_u64(*n),
            Limit::Unlimited => serializer.serialize_str("unlimited"),
        }
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LimitVisitor;

        impl Visitor<'_> for LimitVisitor {
            type Value = Limit;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or \"unlimited\"")
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Limit, E> {
                Ok(Limit::Finite(n))
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Limit, E> {
                u64::try_from(n)
                    .map(Limit::Finite)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(n), &self))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Limit, E> {
                if s == "unlimited" {
                    Ok(Limit::Unlimited)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(s), &self))
                }
            }
        }

        deserializer.deserialize_any(LimitVisitor)
    }
}

/// What a price reference resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceMatch<'a> {
    Subscription {
        plan: &'a Plan,
        price: &'a CatalogPrice,
    },
    CreditPack {
        pack: &'a CreditPack,
        price: &'a CatalogPrice,
    },
}

/// The Stripe Checkout `mode` a price is sold with (the one the checkout port takes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutMode {
    Subscription,
    Payment,
}

impl CheckoutMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutMode::Subscription => "subscription",
            CheckoutMode::Payment => "payment",
        }
    }
}

impl<'a> PriceMatch<'a> {
    pub fn price(&self) -> &'a CatalogPrice {
        match self {
            PriceMatch::Subscription { price, .. } | PriceMatch::CreditPack { price, .. } => price,
        }
    }

    /// Plans are subscriptions; credit packs are one-time payments.
    pub fn checkout_mode(&self) -> CheckoutMode {
        match self {
            PriceMatch::Subscription { .. } => CheckoutMode::Subscription,
            PriceMatch::CreditPack { .. } => CheckoutMode::Payment,
        }
    }

    /// The most units one checkout may buy: a plan is bought once, a pack up to its `max_quantity`.
    pub fn max_quantity(&self) -> u32 {
        match self {
            PriceMatch::Subscription { .. } => 1,
            PriceMatch::CreditPack { pack, .. } => pack.max_quantity,
        }
    }

    /// Whether a customer may buy this through self-serve checkout (not a `contact_sales` plan).
    pub fn self_serve(&self) -> bool {
        match self {
            PriceMatch::Subscription { plan, .. } => !plan.contact_sales,
            PriceMatch::CreditPack { .. } => true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("reading the plan catalog {path} failed: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the plan catalog {path} is invalid: {source}")]
    InFile {
        path: String,
        #[source]
        source: Box<CatalogError>,
    },
    #[error("the plan catalog does not parse: {0}")]
    Syntax(#[source] toml::de::Error),
    #[error("no plan is marked `default = true`; exactly one plan must be the free default")]
    NoDefaultPlan,
    #[error("plans {first:?} and {second:?} are both marked `default = true`; exactly one plan must be the free default")]
    SeveralDefaultPlans { first: String, second: String },
    #[error("the default plan {plan:?} has prices; the free default plan is never sold")]
    DefaultPlanHasPrices { plan: String },
    #[error(
        "the default plan {plan:?} is marked `addon = true`; the free default plan is a base plan"
    )]
    DefaultPlanIsAddon { plan: String },
    #[error("add-on {plan:?} has a `rank`; only base plans are ranked (add-ons always add to the base plan)")]
    AddonWithRank { plan: String },
    #[error("plan {plan:?} has no prices; give it one, or mark it `contact_sales = true` if sales sells it")]
    PlanWithoutPrices { plan: String },
    #[error("credit pack {pack:?} has no prices")]
    PackWithoutPrices { pack: String },
    #[error("the id {id:?} is used by more than one plan or credit pack")]
    DuplicateId { id: String },
    #[error("{owner}: the price reference {reference:?} is already used by {first}; each price id and lookup key may appear once")]
    DuplicatePrice {
        reference: String,
        first: String,
        owner: String,
    },
    #[error("{owner} has a price with neither `id` nor `lookup_key`")]
    PriceWithoutReference { owner: String },
    #[error("{owner}: {reference:?} is not a valid price {field}: {reason}")]
    InvalidPriceReference {
        owner: String,
        field: &'static str,
        reference: String,
        reason: &'static str,
    },
    #[error("{owner}: price {price:?} has no `interval`; a plan's prices are recurring")]
    PriceWithoutInterval { owner: String, price: String },
    #[error("{owner}: price {price:?} has an `interval`; a credit pack's prices are one-time")]
    OneTimePriceWithInterval { owner: String, price: String },
    #[error("{owner}: price {price:?}: {reason}")]
    InvalidTrial {
        owner: String,
        price: String,
        reason: &'static str,
    },
    #[error("credit pack {pack:?} has `credits = 0`")]
    ZeroCredits { pack: String },
    #[error("credit pack {pack:?} has `max_quantity = 0`; leave it out to allow 1")]
    ZeroMaxQuantity { pack: String },
    #[error("plan {plan:?}: limit {limit:?} = {value} is neither a non-negative integer nor \"unlimited\"")]
    InvalidLimit {
        plan: String,
        limit: String,
        value: String,
    },
    #[error("{what} {name:?} is not snake_case (lowercase letters, digits and `_`, starting with a letter)")]
    InvalidName { what: String, name: String },
    #[error("plan {plan:?}: limit {limit:?} is not declared in `[limits]` (give it a `kind`)")]
    UndeclaredLimit { plan: String, limit: String },
    #[error("limit {limit:?}: {reason}")]
    InvalidLimitDecl { limit: String, reason: String },
    #[error("plan {plan:?}: {limit:?} is the credits balance, which credit packs fill; a plan cannot set it")]
    PlanSetsCredits { plan: String, limit: String },
    #[error("plan {plan:?}: the overage of {limit:?} is invalid: {reason}")]
    InvalidOverage {
        plan: String,
        limit: String,
        reason: String,
    },
}

impl PlanCatalog {
    /// Parses and validates a catalog in the TOML format described at the top of this module.
    pub fn parse(text: &str) -> Result<Self, CatalogError> {
        let raw: RawCatalog = toml::from_str(text).map_err(CatalogError::Syntax)?;
        raw.validate()
    }

    /// The catalog compiled in from `config/plans.toml`, parsed once. A test keeps it valid.
    pub fn builtin() -> &'static PlanCatalog {
        &BUILTIN
    }

    /// The catalog at `path` (the value of `PLAN_CATALOG`), or the built-in one.
    pub fn load(path: Option<&str>) -> Result<PlanCatalog, CatalogError> {
        let Some(path) = path else {
            return Ok(Self::builtin().clone());
        };
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|e| CatalogError::InFile {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// The catalog named by `PLAN_CATALOG`, or the built-in one: call once per cold start.
    pub fn from_env() -> Result<PlanCatalog, CatalogError> {
        let path = std::env::var(PLAN_CATALOG_ENV).ok();
        Self::load(path.as_deref().map(str::trim).filter(|p| !p.is_empty()))
    }

    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    pub fn credit_packs(&self) -> &[CreditPack] {
        &self.credit_packs
    }

    /// Every declared limit and its kind.
    pub fn limit_decls(&self) -> &BTreeMap<String, LimitDecl> {
        &self.limit_decls
    }

    /// The declaration of limit `name`, `None` when the catalog has no such limit.
    pub fn limit_decl(&self, name: &str) -> Option<&LimitDecl> {
        self.limit_decls.get(name)
    }

    /// The name of the credits balance, if the catalog declares one.
    pub fn credits_limit(&self) -> Option<&str> {
        self.limit_decls
            .iter()
            .find(|(_, d)| d.kind == LimitKind::Credits)
            .map(|(name, _)| name.as_str())
    }

    /// Whether some plan grants the boolean feature `name`.
    pub fn is_feature(&self, name: &str) -> bool {
        self.plans.iter().any(|p| p.features.contains(name))
    }

    pub fn plan(&self, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.id == id)
    }

    pub fn credit_pack(&self, id: &str) -> Option<&CreditPack> {
        self.credit_packs.iter().find(|p| p.id == id)
    }

    /// The plan a user has without a subscription.
    pub fn free_plan(&self) -> &Plan {
        &self.plans[self.default]
    }

    /// The plan or pack sold by `reference`, a Stripe price id or lookup key (as a checkout request names
    /// it). References are unique across the catalog, so there is at most one.
    pub fn price(&self, reference: &str) -> Option<PriceMatch<'_>> {
        self.find(|price| price.matches(reference))
    }

    /// The plan a Stripe subscription item is on. The price id decides when the catalog names it; otherwise
    /// the lookup key, so a lookup key moved to a new price in Stripe keeps its plan. `None` (an unknown or
    /// credit-pack price) is an error for the caller, never a reason to fall back to the free plan.
    /// The plan of a subscription item: by price id, else lookup key ([`Self::plan_for_price`]), else the
    /// price's `metadata.entitle` (the plan `entitle catalog apply` marked it with), which keeps a
    /// grandfathered price — archived, its lookup key moved to a newer price — on its plan.
    pub fn plan_for_item(
        &self,
        price_id: &str,
        lookup_key: Option<&str>,
        catalog_id: Option<&str>,
    ) -> Option<&Plan> {
        self.plan_for_price(price_id, lookup_key)
            .or_else(|| self.plan(catalog_id?))
    }

    pub fn plan_for_price(&self, price_id: &str, lookup_key: Option<&str>) -> Option<&Plan> {
        match self.resolve(price_id, lookup_key)? {
            PriceMatch::Subscription { plan, .. } => Some(plan),
            PriceMatch::CreditPack { .. } => None,
        }
    }

    /// The credit pack a purchased Stripe price belongs to, matched like [`Self::plan_for_price`].
    pub fn credit_pack_for_price(
        &self,
        price_id: &str,
        lookup_key: Option<&str>,
    ) -> Option<&CreditPack> {
        match self.resolve(price_id, lookup_key)? {
            PriceMatch::CreditPack { pack, .. } => Some(pack),
            PriceMatch::Subscription { .. } => None,
        }
    }

    /// A Stripe price (its id and lookup key) matched against the catalog: by id first, then by lookup key.
    pub fn resolve(&self, price_id: &str, lookup_key: Option<&str>) -> Option<PriceMatch<'_>> {
        self.find(|price| price.id.as_deref() == Some(price_id))
            .or_else(|| {
                let key = lookup_key?;
                self.find(|price| price.lookup_key.as_deref() == Some(key))
            })
    }

    fn find(&self, mut wanted: impl FnMut(&CatalogPrice) -> bool) -> Option<PriceMatch<'_>> {
        for plan in &self.plans {
            if let Some(price) = plan.prices.iter().find(|p| wanted(p)) {
                return Some(PriceMatch::Subscription { plan, price });
            }
        }
        for pack in &self.credit_packs {
            if let Some(price) = pack.prices.iter().find(|p| wanted(p)) {
                return Some(PriceMatch::CreditPack { pack, price });
            }
        }
        None
    }
}

// The file's shape. Kept apart from the public types so that only validation produces those, and so that a
// bad limit is reported with its plan's name rather than a bare TOML position.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    #[serde(default)]
    plans: Vec<RawPlan>,
    #[serde(default)]
    credit_packs: Vec<RawCreditPack>,
    #[serde(default)]
    limits: BTreeMap<String, RawLimitDecl>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimitDecl {
    kind: RawKind,
    resets: Option<Period>,
    low_threshold: Option<u64>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum RawKind {
    Metered,
    Allocated,
    Credits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    id: String,
    name: String,
    #[serde(default)]
    default: bool,
    #[serde(default)]
    contact_sales: bool,
    #[serde(default)]
    addon: bool,
    rank: Option<i64>,
    #[serde(default)]
    features: BTreeSet<String>,
    #[serde(default)]
    limits: BTreeMap<String, toml::Value>,
    #[serde(default)]
    prices: Vec<CatalogPrice>,
    #[serde(default)]
    overage: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCreditPack {
    id: String,
    name: String,
    credits: u64,
    max_quantity: Option<u32>,
    #[serde(default)]
    prices: Vec<CatalogPrice>,
}

impl RawCatalog {
    fn validate(self) -> Result<PlanCatalog, CatalogError> {
        // First, so that a forgotten `default = true` is not reported as a free plan without prices.
        if !self.plans.iter().any(|p| p.default) {
            return Err(CatalogError::NoDefaultPlan);
        }
        let limit_decls = validate_limit_decls(self.limits)?;
        let mut ids = BTreeSet::new();
        let mut references = HashMap::new();
        let mut default: Option<usize> = None;
        let mut plans: Vec<Plan> = Vec::with_capacity(self.plans.len());

        for (index, mut raw) in self.plans.into_iter().enumerate() {
            let owner = format!("plan {:?}", raw.id);
            check_name("plan id", &raw.id)?;
            if !ids.insert(raw.id.clone()) {
                return Err(CatalogError::DuplicateId { id: raw.id });
            }
            if raw.default && raw.addon {
                return Err(CatalogError::DefaultPlanIsAddon { plan: raw.id });
            }
            if raw.addon && raw.rank.is_some() {
                return Err(CatalogError::AddonWithRank { plan: raw.id });
            }
            if raw.default {
                if let Some(first) = default {
                    return Err(CatalogError::SeveralDefaultPlans {
                        first: plans[first].id.clone(),
                        second: raw.id,
                    });
                }
                default = Some(index);
                if !raw.prices.is_empty() {
                    return Err(CatalogError::DefaultPlanHasPrices { plan: raw.id });
                }
            } else if raw.prices.is_empty() && !raw.contact_sales {
                return Err(CatalogError::PlanWithoutPrices { plan: raw.id });
            }
            for feature in &raw.features {
                check_name(&format!("{owner}: feature"), feature)?;
            }
            let mut limits = BTreeMap::new();
            for (name, value) in std::mem::take(&mut raw.limits) {
                check_name(&format!("{owner}: limit"), &name)?;
                match limit_decls.get(&name).map(|d| d.kind) {
                    None => {
                        return Err(CatalogError::UndeclaredLimit {
                            plan: raw.id.clone(),
                            limit: name,
                        })
                    }
                    Some(LimitKind::Credits) => {
                        return Err(CatalogError::PlanSetsCredits {
                            plan: raw.id.clone(),
                            limit: name,
                        })
                    }
                    Some(_) => {}
                }
                let limit = limit(&value).ok_or_else(|| CatalogError::InvalidLimit {
                    plan: raw.id.clone(),
                    limit: name.clone(),
                    value: describe(&value),
                })?;
                limits.insert(name, limit);
            }
            for price in &raw.prices {
                check_price(price, &owner, &mut references)?;
                if price.interval.is_none() {
                    return Err(CatalogError::PriceWithoutInterval {
                        owner,
                        price: price.reference().to_owned(),
                    });
                }
                let trial_error = match (price.trial_days, price.trial_requires_payment_method) {
                    (Some(days), _) if !(1..=730).contains(&days) => {
                        Some("`trial_days` must be between 1 and 730")
                    }
                    (None, Some(_)) => Some("`trial_requires_payment_method` needs `trial_days`"),
                    _ => None,
                };
                if let Some(reason) = trial_error {
                    return Err(CatalogError::InvalidTrial {
                        owner,
                        price: price.reference().to_owned(),
                        reason,
                    });
                }
            }
            let mut overage = BTreeMap::new();
            for (name, value) in &raw.overage {
                let parsed = validate_overage(&raw, &limits, &limit_decls, name, value).map_err(
                    |reason| CatalogError::InvalidOverage {
                        plan: raw.id.clone(),
                        limit: name.clone(),
                        reason,
                    },
                )?;
                overage.insert(name.clone(), parsed);
            }
            let plan = Plan {
                id: raw.id,
                name: raw.name,
                default: raw.default,
                contact_sales: raw.contact_sales,
                addon: raw.addon,
                rank: raw.rank.unwrap_or(index as i64),
                features: raw.features,
                limits,
                prices: raw.prices,
                overage,
            };
            // The metered prices' lookup keys share the catalog's one namespace of price references.
            for price in plan.overage_prices() {
                if let Some(first) = references.insert(price.lookup_key.clone(), owner.clone()) {
                    return Err(CatalogError::DuplicatePrice {
                        reference: price.lookup_key,
                        first,
                        owner: format!("{owner} (the overage price of {:?})", price.limit),
                    });
                }
            }
            plans.push(plan);
        }
        let default = default.ok_or(CatalogError::NoDefaultPlan)?;

        let mut credit_packs = Vec::with_capacity(self.credit_packs.len());
        for raw in self.credit_packs {
            let owner = format!("credit pack {:?}", raw.id);
            check_name("credit pack id", &raw.id)?;
            if !ids.insert(raw.id.clone()) {
                return Err(CatalogError::DuplicateId { id: raw.id });
            }
            if raw.credits == 0 {
                return Err(CatalogError::ZeroCredits { pack: raw.id });
            }
            let max_quantity = raw.max_quantity.unwrap_or(1);
            if max_quantity == 0 {
                return Err(CatalogError::ZeroMaxQuantity { pack: raw.id });
            }
            if raw.prices.is_empty() {
                return Err(CatalogError::PackWithoutPrices { pack: raw.id });
            }
            for price in &raw.prices {
                check_price(price, &owner, &mut references)?;
                if price.interval.is_some() {
                    return Err(CatalogError::OneTimePriceWithInterval {
                        owner,
                        price: price.reference().to_owned(),
                    });
                }
                if price.trial_days.is_some() || price.trial_requires_payment_method.is_some() {
                    return Err(CatalogError::InvalidTrial {
                        owner,
                        price: price.reference().to_owned(),
                        reason: "a one-time price has no trial",
                    });
                }
            }
            credit_packs.push(CreditPack {
                id: raw.id,
                name: raw.name,
                credits: raw.credits,
                max_quantity,
                prices: raw.prices,
            });
        }

        Ok(PlanCatalog {
            plans,
            credit_packs,
            default,
            limit_decls,
        })
    }
}

/// One entry of a plan's `[plans.overage]`: `limit = { unit_amount, per, currency }`. The reason, as a
/// sentence, when it is not valid.
fn validate_overage(
    plan: &RawPlan,
    limits: &BTreeMap<String, Limit>,
    decls: &BTreeMap<String, LimitDecl>,
    name: &str,
    value: &toml::Value,
) -> Result<Overage, String> {
    match decls.get(name).map(|d| d.kind) {
        None => {
            return Err(format!(
                "{name:?} is not declared in `[limits]`; only a metered limit has overage"
            ))
        }
        Some(LimitKind::Metered(_)) => {}
        Some(_) => {
            return Err(format!(
                "{name:?} is not a metered limit; only use of a metered limit beyond what the plan includes is billed"
            ))
        }
    }
    match limits.get(name) {
        Some(Limit::Finite(_)) => {}
        Some(Limit::Unlimited) => {
            return Err(format!(
                "the plan includes an unlimited {name:?}, so there is nothing beyond it to bill"
            ))
        }
        None => {
            return Err(format!(
                "the plan does not set {name:?} in `[plans.limits]`; set the included amount (0 bills every unit)"
            ))
        }
    }
    if plan.default || plan.addon {
        return Err(if plan.default {
            "the free default plan has no subscription to bill overage on".to_owned()
        } else {
            "an add-on's limits add to its base plan's; declare overage on base plans".to_owned()
        });
    }
    if plan.prices.is_empty() {
        return Err(
            "the plan has no prices; overage is billed on a recurring price's subscription"
                .to_owned(),
        );
    }
    let toml::Value::Table(table) = value else {
        return Err(format!(
            "it is {}, not a table such as `{name} = {{ unit_amount = 1, per = 100, currency = \"usd\" }}`",
            describe(value)
        ));
    };
    for key in table.keys() {
        if !["unit_amount", "per", "currency"].contains(&key.as_str()) {
            return Err(format!(
                "unknown key {key:?}; an overage has `unit_amount`, `per` and `currency`"
            ));
        }
    }
    let integer = |key: &str, min: i64, what: &str| -> Result<u64, String> {
        match table.get(key) {
            None => Err(format!("`{key}` is missing ({what})")),
            Some(toml::Value::Integer(n)) if *n >= min => Ok(*n as u64),
            Some(other) => Err(format!(
                "`{key}` = {} is not an integer of at least {min} ({what})",
                describe(other)
            )),
        }
    };
    let unit_amount = integer(
        "unit_amount",
        1,
        "the price of `per` units in the currency's smallest unit, e.g. cents",
    )?;
    let per = integer("per", 1, "how many units `unit_amount` buys")?;
    let currency = match table.get("currency") {
        None => return Err("`currency` is missing (e.g. \"usd\")".to_owned()),
        Some(toml::Value::String(c))
            if c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()) =>
        {
            c.to_ascii_lowercase()
        }
        Some(other) => {
            return Err(format!(
                "`currency` = {} is not a three-letter currency code such as \"usd\"",
                describe(other)
            ))
        }
    };
    if let Some(other) = plan
        .prices
        .iter()
        .filter_map(|p| p.currency.as_deref())
        .find(|c| !c.eq_ignore_ascii_case(&currency))
    {
        return Err(format!(
            "`currency` = {currency:?} differs from the plan's prices ({:?}); a subscription bills one currency",
            other.to_ascii_lowercase()
        ));
    }
    Ok(Overage {
        unit_amount,
        per,
        currency,
    })
}

/// `[limits]`: each name snake_case; `resets` on metered limits only; one credits balance at most, the only
/// one with a `low_threshold`.
fn validate_limit_decls(
    raw: BTreeMap<String, RawLimitDecl>,
) -> Result<BTreeMap<String, LimitDecl>, CatalogError> {
    let mut decls = BTreeMap::new();
    let mut credits: Option<String> = None;
    for (name, decl) in raw {
        check_name("limit", &name)?;
        let invalid = |reason: &str| CatalogError::InvalidLimitDecl {
            limit: name.clone(),
            reason: reason.to_owned(),
        };
        let kind = match (decl.kind, decl.resets) {
            (RawKind::Metered, Some(period)) => LimitKind::Metered(period),
            (RawKind::Metered, None) => {
                return Err(invalid(
                    "a metered limit needs `resets` (\"day\", \"month\" or \"billing_period\")",
                ))
            }
            (_, Some(_)) => return Err(invalid("only a metered limit resets")),
            (RawKind::Allocated, None) => LimitKind::Allocated,
            (RawKind::Credits, None) => LimitKind::Credits,
        };
        if decl.low_threshold.is_some() && kind != LimitKind::Credits {
            return Err(invalid("only the credits balance has a `low_threshold`"));
        }
        if kind == LimitKind::Credits {
            if let Some(first) = &credits {
                return Err(invalid(&format!(
                    "{first:?} is already the credits balance; there is one"
                )));
            }
            credits = Some(name.clone());
        }
        decls.insert(
            name,
            LimitDecl {
                kind,
                low_threshold: decl.low_threshold,
            },
        );
    }
    Ok(decls)
}

/// Checks a price's references and claims them in `seen` (reference → owner), which spans the whole
/// catalog: ids and lookup keys share one namespace, since a checkout request may name either.
fn check_price(
    price: &CatalogPrice,
    owner: &str,
    seen: &mut HashMap<String, String>,
) -> Result<(), CatalogError> {
    if price.id.is_none() && price.lookup_key.is_none() {
        return Err(CatalogError::PriceWithoutReference {
            owner: owner.to_owned(),
        });
    }
    let invalid = |field, reference: &str, reason| CatalogError::InvalidPriceReference {
        owner: owner.to_owned(),
        field,
        reference: reference.to_owned(),
        reason,
    };
    if let Some(id) = &price.id {
        let valid = id.len() > "price_".len()
            && id.starts_with("price_")
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(invalid(
                "id",
                id,
                "a Stripe price id is `price_` and letters or digits; a lookup key goes in `lookup_key`",
            ));
        }
    }
    if let Some(key) = &price.lookup_key {
        if key.trim().is_empty() || key.trim() != key {
            return Err(invalid(
                "lookup_key",
                key,
                "a lookup key is not blank and has no surrounding spaces",
            ));
        }
    }
    for reference in price.id.iter().chain(&price.lookup_key) {
        if let Some(first) = seen.insert(reference.clone(), owner.to_owned()) {
            return Err(CatalogError::DuplicatePrice {
                reference: reference.clone(),
                first,
                owner: owner.to_owned(),
            });
        }
    }
    Ok(())
}

fn check_name(what: &str, name: &str) -> Result<(), CatalogError> {
    let mut bytes = name.bytes();
    let valid = bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(CatalogError::InvalidName {
            what: what.to_owned(),
            name: name.to_owned(),
        })
    }
}

fn limit(value: &toml::Value) -> Option<Limit> {
    match value {
        toml::Value::Integer(n) => u64::try_from(*n).ok().map(Limit::Finite),
        toml::Value::String(s) if s == "unlimited" => Some(Limit::Unlimited),
        _ => None,
    }
}

fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => format!("a {}", other.type_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid catalog to build the failing cases from.
    const BASE: &str = r#"
        [limits]
        agents = { kind = "allocated" }

        [[plans]]
        id = "free"
        name = "Free"
        default = true
        [plans.limits]
        agents = 1

        [[plans]]
        id = "starter"
        name = "Starter"
        [[plans.prices]]
        id = "price_1Starter"
        lookup_key = "starter_monthly"
        interval = "month"

        [[credit_packs]]
        id = "credits_1000"
        name = "1,000 credits"
        credits = 1000
        [[credit_packs.prices]]
        lookup_key = "credits_1000"
    "#;

    fn rejected(text: &str) -> String {
        match PlanCatalog::parse(text) {
            Ok(_) => panic!("the catalog was accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    fn assert_mentions(message: &str, culprits: &[&str]) {
        for culprit in culprits {
            assert!(
                message.contains(culprit),
                "{message:?} does not name {culprit:?}"
            );
        }
    }

    #[test]
    fn the_base_catalog_of_these_tests_is_valid() {
        PlanCatalog::parse(BASE).unwrap();
    }

    #[test]
    fn the_built_in_catalog_parses_and_validates() {
        let catalog = PlanCatalog::parse(BUILTIN_TOML).unwrap();
        assert_eq!(&catalog, PlanCatalog::builtin());

        let ids: Vec<_> = catalog.plans().iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            ids,
            ["free", "starter", "professional", "enterprise", "team_pack"]
        );
        let addons: Vec<_> = catalog.plans().iter().map(|p| p.addon).collect();
        assert_eq!(addons, [false, false, false, false, true]);
        let ranks: Vec<_> = catalog.plans().iter().map(|p| p.rank).collect();
        assert_eq!(ranks, [0, 1, 2, 3, 4], "catalog order without `rank`");
        let limits = |id: &str| {
            let plan = catalog.plan(id).unwrap();
            (plan.limits["agents"], plan.limits["messages_per_day"])
        };
        assert_eq!(limits("free"), (Limit::Finite(1), Limit::Finite(100)));
        assert_eq!(limits("starter"), (Limit::Finite(3), Limit::Finite(1_000)));
        assert_eq!(
            limits("professional"),
            (Limit::Finite(10), Limit::Finite(10_000))
        );
        assert_eq!(limits("enterprise"), (Limit::Unlimited, Limit::Unlimited));
        assert!(catalog.plan("enterprise").unwrap().contact_sales);

        let packs: Vec<_> = catalog
            .credit_packs()
            .iter()
            .map(|p| (p.id.as_str(), p.credits, p.max_quantity))
            .collect();
        assert_eq!(
            packs,
            [("credits_1000", 1_000, 10), ("credits_5000", 5_000, 1)]
        );
    }

    #[test]
    fn the_built_in_catalog_knows_the_prices_of_the_stripe_fixtures() {
        let catalog = PlanCatalog::builtin();
        let plan_of = |id, key| catalog.plan_for_price(id, Some(key)).map(|p| p.id.as_str());
        assert_eq!(
            plan_of("price_local_starter_monthly", "starter_monthly"),
            Some("starter")
        );
        assert_eq!(
            plan_of("price_local_pro_monthly", "pro_monthly"),
            Some("professional")
        );
        for (key, plan) in [
            ("starter_yearly", "starter"),
            ("pro_yearly", "professional"),
            ("enterprise_monthly", "enterprise"),
        ] {
            assert_eq!(plan_of("price_1NotInTheCatalog", key), Some(plan));
        }
    }

    /// The built-in catalog as a team with prices already in Stripe writes it: the monthly prices also
    /// named by id.
    fn catalog_with_price_ids() -> PlanCatalog {
        let text = BUILTIN_TOML
            .replace(
                "lookup_key = \"starter_monthly\"",
                &format!("id = \"{EXISTING_STARTER}\"\nlookup_key = \"starter_monthly\""),
            )
            .replace(
                "lookup_key = \"pro_monthly\"",
                &format!("id = \"{EXISTING_PRO}\"\nlookup_key = \"pro_monthly\""),
            );
        PlanCatalog::parse(&text).unwrap()
    }

    const EXISTING_STARTER: &str = "price_1ExistingStarterMonthly";
    const EXISTING_PRO: &str = "price_1ExistingProMonthly";

    #[test]
    fn the_built_in_catalog_names_its_prices_by_lookup_key_only() {
        let catalog = PlanCatalog::builtin();
        let prices = catalog
            .plans()
            .iter()
            .flat_map(|p| &p.prices)
            .chain(catalog.credit_packs().iter().flat_map(|p| &p.prices));
        for price in prices {
            assert_eq!(
                price.id, None,
                "{price:?}: a made-up id would be sent to Stripe"
            );
            assert!(price.lookup_key.is_some(), "{price:?}");
        }
    }

    #[test]
    fn a_price_resolves_by_id_and_by_lookup_key_to_its_plan() {
        let catalog = catalog_with_price_ids();
        assert_eq!(
            catalog
                .price("starter_monthly")
                .unwrap()
                .price()
                .reference(),
            EXISTING_STARTER,
            "a price named by id is requested by its id"
        );
        for reference in [EXISTING_STARTER, "starter_monthly"] {
            let found = catalog.price(reference).unwrap();
            let PriceMatch::Subscription { plan, price } = found else {
                panic!("{reference} resolved to {found:?}");
            };
            assert_eq!(plan.id, "starter");
            assert_eq!(price.interval, Some(Interval::Month));
            assert_eq!(found.checkout_mode(), CheckoutMode::Subscription);
            assert_eq!(found.max_quantity(), 1);
            assert!(found.self_serve());
        }
        assert!(!catalog.price("enterprise_monthly").unwrap().self_serve());
    }

    #[test]
    fn a_credit_pack_price_resolves_to_its_pack_and_is_a_one_time_payment() {
        let catalog = PlanCatalog::builtin();
        let found = catalog.price("credits_1000").unwrap();
        let PriceMatch::CreditPack { pack, .. } = found else {
            panic!("credits_1000 resolved to {found:?}");
        };
        assert_eq!((pack.id.as_str(), pack.credits), ("credits_1000", 1_000));
        assert_eq!(found.checkout_mode().as_str(), "payment");
        assert_eq!(found.max_quantity(), 10);
        assert_eq!(catalog.price("credits_5000").unwrap().max_quantity(), 1);
        assert_eq!(
            catalog
                .credit_pack_for_price("price_1Whatever", Some("credits_5000"))
                .map(|p| p.credits),
            Some(5_000)
        );
    }

    #[test]
    fn an_unknown_price_resolves_to_nothing() {
        let catalog = PlanCatalog::builtin();
        assert!(catalog.price("price_1Unknown").is_none());
        assert!(catalog.price("").is_none());
        assert!(catalog.plan_for_price("price_1Unknown", None).is_none());
        assert!(catalog
            .plan_for_price("price_1Unknown", Some("unknown_key"))
            .is_none());
        // A pack's price is not a plan, and a plan's price is not a pack.
        assert!(catalog
            .plan_for_price("price_1X", Some("credits_1000"))
            .is_none());
        assert!(catalog
            .credit_pack_for_price("price_1X", Some("starter_monthly"))
            .is_none());
        assert!(catalog_with_price_ids()
            .credit_pack_for_price(EXISTING_STARTER, None)
            .is_none());
    }

    #[test]
    fn a_subscription_item_is_matched_by_price_id_before_lookup_key() {
        let catalog = catalog_with_price_ids();
        // The starter price whose lookup key was moved to the professional plan's price stays starter.
        let plan = catalog
            .plan_for_price(EXISTING_STARTER, Some("pro_monthly"))
            .unwrap();
        assert_eq!(plan.id, "starter");
        // A new price carrying a catalog lookup key is that key's plan.
        let plan = catalog
            .plan_for_price("price_1NewProPrice", Some("pro_monthly"))
            .unwrap();
        assert_eq!(plan.id, "professional");
    }

    #[test]
    fn the_free_plan_is_the_default() {
        let catalog = PlanCatalog::builtin();
        let free = catalog.free_plan();
        assert_eq!(free.id, "free");
        assert!(free.default);
        assert!(free.prices.is_empty());
        assert_eq!(catalog.plans().iter().filter(|p| p.default).count(), 1);
    }

    #[test]
    fn unlimited_is_expressible_and_allows_any_amount() {
        assert!(Limit::Unlimited.allows(u64::MAX));
        assert!(Limit::Finite(3).allows(3));
        assert!(!Limit::Finite(3).allows(4));
        assert!(Limit::Finite(0).allows(0));
        assert!(Limit::Unlimited > Limit::Finite(u64::MAX));
        assert_eq!(Limit::Unlimited.to_string(), "unlimited");
    }

    #[test]
    fn limits_serialize_as_an_integer_or_the_string_unlimited() {
        let limits = BTreeMap::from([
            ("agents".to_owned(), Limit::Finite(3)),
            ("seats".to_owned(), Limit::Unlimited),
        ]);
        let json = serde_json::to_string(&limits).unwrap();
        assert_eq!(json, r#"{"agents":3,"seats":"unlimited"}"#);
        let back: BTreeMap<String, Limit> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, limits);
        assert!(serde_json::from_str::<Limit>("-1").is_err());
        assert!(serde_json::from_str::<Limit>(r#""lots""#).is_err());
    }

    #[test]
    fn a_plan_serializes_to_camel_case_json() {
        let plan = PlanCatalog::builtin().plan("starter").unwrap();
        let json = serde_json::to_value(plan).unwrap();
        assert_eq!(json["contactSales"], false);
        assert_eq!(json["limits"]["messages_per_day"], 1_000);
        assert_eq!(json["prices"][0]["lookupKey"], "starter_monthly");
        assert_eq!(json["prices"][0]["interval"], "month");
        assert!(json["prices"][1].get("id").is_none());
        let enterprise = PlanCatalog::builtin().plan("enterprise").unwrap();
        assert_eq!(
            serde_json::to_value(enterprise).unwrap()["limits"]["agents"],
            "unlimited"
        );
    }

    #[test]
    fn a_catalog_without_a_default_plan_is_rejected() {
        let text = BASE.replace("default = true", "");
        assert!(matches!(
            PlanCatalog::parse(&text),
            Err(CatalogError::NoDefaultPlan)
        ));
        assert!(matches!(
            PlanCatalog::parse(""),
            Err(CatalogError::NoDefaultPlan)
        ));
    }

    #[test]
    fn a_catalog_with_two_default_plans_is_rejected_naming_both() {
        let text =
            format!("{BASE}\n[[plans]]\nid = \"gratis\"\nname = \"Gratis\"\ndefault = true\n");
        assert_mentions(&rejected(&text), &["\"free\"", "\"gratis\"", "default"]);
    }

    #[test]
    fn an_addon_is_never_the_default_and_never_ranked() {
        let default_addon = BASE.replacen("default = true", "default = true\naddon = true", 1);
        assert_mentions(&rejected(&default_addon), &["\"free\"", "addon"]);
        let ranked = format!(
            "{BASE}\n[[plans]]\nid = \"extra\"\nname = \"Extra\"\naddon = true\nrank = 3\ncontact_sales = true\n"
        );
        assert_mentions(&rejected(&ranked), &["\"extra\"", "rank"]);
        let fine = format!(
            "{BASE}\n[[plans]]\nid = \"extra\"\nname = \"Extra\"\naddon = true\ncontact_sales = true\n"
        );
        assert!(
            PlanCatalog::parse(&fine)
                .unwrap()
                .plan("extra")
                .unwrap()
                .addon
        );
    }

    #[test]
    fn a_default_plan_with_prices_is_rejected() {
        let text = BASE.replace(
            "[plans.limits]\n        agents = 1",
            "[[plans.prices]]\n        lookup_key = \"free_monthly\"\n        interval = \"month\"",
        );
        assert_mentions(&rejected(&text), &["default plan \"free\"", "prices"]);
    }

    #[test]
    fn a_duplicate_plan_or_pack_id_is_rejected() {
        let plan = format!(
            "{BASE}\n[[plans]]\nid = \"starter\"\nname = \"Again\"\ncontact_sales = true\n"
        );
        assert_mentions(&rejected(&plan), &["\"starter\"", "more than one"]);
        let pack = format!(
            "{BASE}\n[[credit_packs]]\nid = \"starter\"\nname = \"S\"\ncredits = 1\n[[credit_packs.prices]]\nlookup_key = \"s\"\n"
        );
        assert_mentions(&rejected(&pack), &["\"starter\"", "more than one"]);
    }

    #[test]
    fn a_price_id_or_lookup_key_used_twice_is_rejected_naming_both_owners() {
        let pack_with = |price: &str| {
            format!("{BASE}\n[[credit_packs]]\nid = \"credits_9\"\nname = \"9\"\ncredits = 9\n[[credit_packs.prices]]\n{price}\n")
        };
        for (price, reference) in [
            ("id = \"price_1Starter\"", "price_1Starter"),
            ("lookup_key = \"starter_monthly\"", "starter_monthly"),
            // An id elsewhere used as a lookup key is just as ambiguous for a checkout request.
            ("lookup_key = \"price_1Starter\"", "price_1Starter"),
        ] {
            assert_mentions(
                &rejected(&pack_with(price)),
                &[reference, "plan \"starter\"", "credit pack \"credits_9\""],
            );
        }
        let same_plan = BASE.replace(
            "interval = \"month\"",
            "interval = \"month\"\n[[plans.prices]]\nlookup_key = \"starter_monthly\"\ninterval = \"year\"",
        );
        assert_mentions(
            &rejected(&same_plan),
            &["starter_monthly", "plan \"starter\""],
        );
    }

    #[test]
    fn a_price_with_neither_id_nor_lookup_key_is_rejected() {
        let text = BASE.replace("lookup_key = \"credits_1000\"", "amount = 1900");
        assert_mentions(
            &rejected(&text),
            &["credit pack \"credits_1000\"", "neither"],
        );
    }

    #[test]
    fn a_malformed_price_id_or_blank_lookup_key_is_rejected() {
        let text = BASE.replace("id = \"price_1Starter\"", "id = \"starter_monthly_id\"");
        assert_mentions(
            &rejected(&text),
            &["plan \"starter\"", "starter_monthly_id"],
        );
        let text = BASE.replace("lookup_key = \"credits_1000\"", "lookup_key = \" \"");
        assert_mentions(
            &rejected(&text),
            &["credit pack \"credits_1000\"", "lookup_key"],
        );
    }

    #[test]
    fn a_paid_plan_without_prices_is_rejected_unless_sales_sells_it() {
        let paid = format!("{BASE}\n[[plans]]\nid = \"team\"\nname = \"Team\"\n");
        assert_mentions(&rejected(&paid), &["plan \"team\"", "no prices"]);
        let by_sales = format!("{paid}contact_sales = true\n");
        let catalog = PlanCatalog::parse(&by_sales).unwrap();
        assert!(catalog.plan("team").unwrap().contact_sales);
    }

    #[test]
    fn a_credit_pack_without_prices_is_rejected() {
        let text = BASE.replace(
            "[[credit_packs.prices]]\n        lookup_key = \"credits_1000\"",
            "",
        );
        assert_mentions(
            &rejected(&text),
            &["credit pack \"credits_1000\"", "no prices"],
        );
    }

    #[test]
    fn recurring_and_one_time_prices_are_kept_apart() {
        let text = BASE.replace("interval = \"month\"", "");
        assert_mentions(
            &rejected(&text),
            &["plan \"starter\"", "price_1Starter", "interval"],
        );
        let text = BASE.replace(
            "lookup_key = \"credits_1000\"",
            "lookup_key = \"credits_1000\"\ninterval = \"month\"",
        );
        assert_mentions(
            &rejected(&text),
            &["credit pack \"credits_1000\"", "interval"],
        );
        let text = BASE.replace("interval = \"month\"", "interval = \"monthly\"");
        assert_mentions(&rejected(&text), &["monthly"]);
    }

    #[test]
    fn a_credit_pack_with_no_credits_is_rejected() {
        let text = BASE.replace("credits = 1000", "credits = 0");
        assert_mentions(
            &rejected(&text),
            &["credit pack \"credits_1000\"", "credits = 0"],
        );
    }

    #[test]
    fn a_credit_pack_with_a_max_quantity_of_zero_is_rejected() {
        let text = BASE.replace("credits = 1000", "credits = 1000\nmax_quantity = 0");
        assert_mentions(
            &rejected(&text),
            &["credit pack \"credits_1000\"", "max_quantity = 0"],
        );
    }

    #[test]
    fn a_limit_that_is_neither_a_count_nor_unlimited_is_rejected() {
        for (value, shown) in [
            ("\"lots\"", "\"lots\""),
            ("\"Unlimited\"", "\"Unlimited\""),
            ("-1", "-1"),
            ("1.5", "1.5"),
            ("true", "true"),
        ] {
            let text = BASE.replace("agents = 1", &format!("agents = {value}"));
            assert_mentions(&rejected(&text), &["plan \"free\"", "\"agents\"", shown]);
        }
    }

    #[test]
    fn names_that_are_not_snake_case_are_rejected() {
        for (from, to, name) in [
            ("id = \"starter\"", "id = \"Starter Plan\"", "Starter Plan"),
            ("agents = 1", "max-agents = 1", "max-agents"),
            (
                "default = true",
                "default = true\nfeatures = [\"API access\"]",
                "API access",
            ),
        ] {
            let text = BASE.replacen(from, to, 1);
            assert_mentions(&rejected(&text), &[name, "snake_case"]);
        }
    }

    #[test]
    fn unknown_fields_are_rejected() {
        for (from, to, field) in [
            (
                "default = true",
                "default = true\nfeature = [\"sso\"]",
                "feature",
            ),
            (
                "lookup_key = \"starter_monthly\"",
                "lookupkey = \"starter_monthly\"",
                "lookupkey",
            ),
            ("credits = 1000", "credits = 1000\nmax_qty = 5", "max_qty"),
        ] {
            let text = BASE.replacen(from, to, 1);
            assert_mentions(&rejected(&text), &[field, "unknown field"]);
        }
        assert_mentions(&rejected(&format!("plan = []\n{BASE}")), &["plan"]);
    }

    #[test]
    fn load_without_a_path_is_the_built_in_catalog() {
        assert_eq!(&PlanCatalog::load(None).unwrap(), PlanCatalog::builtin());
    }

    #[test]
    fn load_with_a_path_reads_that_file() {
        let path =
            std::env::temp_dir().join(format!("entitle-plans-test-{}.toml", std::process::id()));
        std::fs::write(&path, BASE).unwrap();
        let loaded = PlanCatalog::load(path.to_str());
        let broken = std::fs::write(&path, BASE.replace("credits = 1000", "credits = 0"))
            .map(|()| PlanCatalog::load(path.to_str()));
        std::fs::remove_file(&path).unwrap();

        let catalog = loaded.unwrap();
        assert_eq!(catalog.plans().len(), 2);
        assert_eq!(
            catalog.plan_for_price("price_1Starter", None).unwrap().id,
            "starter"
        );
        let message = broken.unwrap().unwrap_err().to_string();
        assert_mentions(&message, &[path.to_str().unwrap(), "credits_1000"]);
    }

    #[test]
    fn load_of_a_missing_file_names_the_path() {
        let err = PlanCatalog::load(Some("/nonexistent/entitle/plans.toml")).unwrap_err();
        assert!(matches!(err, CatalogError::Read { .. }));
        assert_mentions(&err.to_string(), &["/nonexistent/entitle/plans.toml"]);
    }

    #[test]
    fn every_limit_of_the_built_in_catalog_is_declared_with_its_kind() {
        let catalog = PlanCatalog::builtin();
        let kind = |name| catalog.limit_decl(name).map(|d| d.kind);
        assert_eq!(
            kind("messages_per_day"),
            Some(LimitKind::Metered(Period::Day))
        );
        assert_eq!(kind("agents"), Some(LimitKind::Allocated));
        assert_eq!(catalog.credits_limit(), Some("credits"));
        assert_eq!(
            catalog.limit_decl("credits").unwrap().low_threshold,
            Some(100)
        );
        assert!(catalog.is_feature("sso") && !catalog.is_feature("agents_per_day"));
    }

    #[test]
    fn a_limit_a_plan_sets_without_declaring_it_is_rejected() {
        let text = BASE.replace("agents = 1", "agents = 1\nseats = 2");
        assert_mentions(
            &rejected(&text),
            &["plan \"free\"", "\"seats\"", "[limits]"],
        );
    }

    #[test]
    fn a_limit_declaration_must_make_sense_for_its_kind() {
        for (decl, culprit) in [
            ("seats = { kind = \"metered\" }", "resets"),
            (
                "seats = { kind = \"allocated\", resets = \"day\" }",
                "only a metered",
            ),
            ("seats = { kind = \"metered\", resets = \"week\" }", "week"),
            (
                "seats = { kind = \"allocated\", low_threshold = 5 }",
                "low_threshold",
            ),
            ("seats = { kind = \"counted\" }", "counted"),
            (
                "a = { kind = \"credits\" }\nb = { kind = \"credits\" }",
                "one",
            ),
        ] {
            let text = BASE.replace(
                "agents = { kind = \"allocated\" }",
                &format!("agents = {{ kind = \"allocated\" }}\n{decl}"),
            );
            assert_mentions(&rejected(&text), &[culprit]);
        }
    }

    #[test]
    fn a_plan_cannot_set_the_credits_balance() {
        let text = BASE
            .replace(
                "agents = { kind = \"allocated\" }",
                "agents = { kind = \"allocated\" }\ncredits = { kind = \"credits\" }",
            )
            .replace("agents = 1", "agents = 1\ncredits = 5");
        assert_mentions(&rejected(&text), &["\"credits\"", "credit packs"]);
    }

    /// A catalog whose starter plan (monthly and yearly, in usd) includes 1,000 messages a month and
    /// declares `overage`.
    fn with_overage(overage: &str) -> String {
        format!(
            r#"
        [limits]
        agents = {{ kind = "allocated" }}
        messages = {{ kind = "metered", resets = "month" }}

        [[plans]]
        id = "free"
        name = "Free"
        default = true
        [plans.limits]
        agents = 1

        [[plans]]
        id = "starter"
        name = "Starter"
        [plans.limits]
        agents = 3
        messages = 1000
        [plans.overage]
        {overage}
        [[plans.prices]]
        lookup_key = "starter_monthly"
        interval = "month"
        amount = 900
        currency = "usd"
        [[plans.prices]]
        lookup_key = "starter_yearly"
        interval = "year"

        [[credit_packs]]
        id = "credits_1000"
        name = "1,000 credits"
        credits = 1000
        [[credit_packs.prices]]
        lookup_key = "credits_1000"
    "#
        )
    }

    #[test]
    fn a_metered_limit_may_declare_overage_billed_per_interval_of_the_plan() {
        let text = with_overage("messages = { unit_amount = 1, per = 100, currency = \"USD\" }");
        let catalog = PlanCatalog::parse(&text).unwrap();
        let starter = catalog.plan("starter").unwrap();
        assert_eq!(
            starter.overage["messages"],
            Overage {
                unit_amount: 1,
                per: 100,
                currency: "usd".into()
            }
        );
        let prices: Vec<(String, Interval)> = starter
            .overage_prices()
            .into_iter()
            .map(|p| (p.lookup_key, p.interval))
            .collect();
        assert_eq!(
            prices,
            [
                ("starter_messages_overage_month".to_owned(), Interval::Month),
                ("starter_messages_overage_year".to_owned(), Interval::Year),
            ],
            "one metered price per interval the plan sells"
        );
        assert_eq!(meter_event_name("messages"), "entitle_messages");
        assert!(catalog.plan("free").unwrap().overage.is_empty());
        let json = serde_json::to_value(catalog.plan("free").unwrap()).unwrap();
        assert!(json.get("overage").is_none(), "no overage, no key: {json}");
    }

    #[test]
    fn overage_that_makes_no_sense_is_rejected_in_a_sentence_naming_the_key() {
        for (overage, culprits) in [
            (
                "agents = { unit_amount = 1, per = 1, currency = \"usd\" }",
                &["\"agents\"", "not a metered limit"][..],
            ),
            (
                "seats = { unit_amount = 1, per = 1, currency = \"usd\" }",
                &["\"seats\"", "not declared"],
            ),
            (
                "messages = { unit_amount = 0, per = 100, currency = \"usd\" }",
                &["`unit_amount` = 0", "at least 1"],
            ),
            (
                "messages = { unit_amount = 1, per = 0, currency = \"usd\" }",
                &["`per` = 0", "at least 1"],
            ),
            (
                "messages = { unit_amount = 1, currency = \"usd\" }",
                &["`per` is missing"],
            ),
            (
                "messages = { unit_amount = 1, per = 100 }",
                &["`currency` is missing"],
            ),
            (
                "messages = { unit_amount = 1, per = 100, currency = \"eur\" }",
                &["\"eur\"", "differs from the plan's prices", "\"usd\""],
            ),
            (
                "messages = { unit_amount = 1, per = 100, currency = \"usd\", cap = 5 }",
                &["unknown key \"cap\"", "`unit_amount`, `per` and `currency`"],
            ),
            (
                "messages = { unit_amount = 1.5, per = 100, currency = \"usd\" }",
                &["`unit_amount` = 1.5"],
            ),
            ("messages = 5", &["not a table"]),
        ] {
            let message = rejected(&with_overage(overage));
            let mut all = vec!["plan \"starter\"", "overage of \"messages\""];
            if overage.starts_with("agents") {
                all[1] = "overage of \"agents\"";
            } else if overage.starts_with("seats") {
                all[1] = "overage of \"seats\"";
            }
            all.extend_from_slice(culprits);
            assert_mentions(&message, &all);
        }
    }

    #[test]
    fn overage_needs_a_finite_included_amount_on_a_recurring_base_plan() {
        let text = with_overage("messages = { unit_amount = 1, per = 100, currency = \"usd\" }");
        let unlimited = text.replacen("messages = 1000", "messages = \"unlimited\"", 1);
        assert_mentions(&rejected(&unlimited), &["unlimited \"messages\""]);
        let unset = text.replacen("messages = 1000\n", "", 1);
        assert_mentions(&rejected(&unset), &["does not set \"messages\""]);
        let addon = text.replacen("name = \"Starter\"", "name = \"Starter\"\naddon = true", 1);
        assert_mentions(&rejected(&addon), &["add-on", "base plans"]);
        let free = text.replacen(
            "agents = 1\n",
            "agents = 1\nmessages = 10\n[plans.overage]\nmessages = { unit_amount = 1, per = 1, currency = \"usd\" }\n",
            1,
        );
        assert_mentions(&rejected(&free), &["plan \"free\"", "free default plan"]);
    }

    #[test]
    fn an_overage_lookup_key_already_used_by_a_price_is_rejected() {
        let text = with_overage("messages = { unit_amount = 1, per = 100, currency = \"usd\" }")
            .replacen(
                "lookup_key = \"credits_1000\"",
                "lookup_key = \"starter_messages_overage_month\"",
                1,
            );
        assert_mentions(
            &rejected(&text),
            &["starter_messages_overage_month", "may appear once"],
        );
    }
}
