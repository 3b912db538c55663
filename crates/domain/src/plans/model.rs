//! The catalog's types — plans, credit packs, prices, limits — and how a catalog in hand is looked up.
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::usage::{LimitDecl, LimitKind};

/// A validated plan catalog. Only [`PlanCatalog::parse`] builds one, so every catalog in hand has exactly
/// one free default plan and unambiguous prices.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanCatalog {
    pub(super) plans: Vec<Plan>,
    pub(super) credit_packs: Vec<CreditPack>,
    /// Index of the default plan in `plans`.
    pub(super) default: usize,
    /// Every limit's kind, declared once in `[limits]`.
    pub(super) limit_decls: BTreeMap<String, LimitDecl>,
    /// `[features]`: what a person reads for each feature (empty in a catalog written without it).
    pub(super) features: BTreeMap<String, FeatureWords>,
    /// Each limit's display name and unit (`[limits]`' `name` and `unit`), by limit name.
    pub(super) limit_words: BTreeMap<String, LimitWords>,
}

/// A feature as a page shows it: `[features] sso = { name = "Single sign-on", description = "…" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureWords {
    pub name: String,
    pub description: String,
}

/// What a limit counts, in the two forms English needs: `{ one = "agent", other = "agents" }`. The keys are
/// `Intl.PluralRules`' categories, so a page picks the form with `new Intl.PluralRules("en").select(n)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    pub one: String,
    pub other: String,
}

impl Unit {
    /// The form for a count of `n`.
    pub fn of(&self, n: u64) -> &str {
        if n == 1 {
            &self.one
        } else {
            &self.other
        }
    }
}

/// A limit as a page shows it: a name ("Messages a day") and its unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitWords {
    pub name: String,
    pub unit: Unit,
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
    /// Who may buy it (`for`): a user, an organization, or either.
    #[serde(rename = "for")]
    pub audience: Audience,
    /// A team plan priced per seat: how many members it includes and the price of each one beyond.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seats: Option<Seats>,
    /// Per-member caps inside an organization's pool (`[plans.member_limits]`): a consume naming a member
    /// must fit both the pool (`limits`) and the member's cap. Metered and allocated limits only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub member_limits: BTreeMap<String, u64>,
}

/// Who a plan is for (`for = "user" | "organization" | "both"`, default both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    User,
    Organization,
    #[default]
    Both,
}

impl Audience {
    /// Whether a subject of `kind` may buy the plan.
    pub fn admits(self, kind: crate::ids::SubjectKind) -> bool {
        use crate::ids::SubjectKind;
        matches!(
            (self, kind),
            (Audience::Both, _)
                | (Audience::User, SubjectKind::User)
                | (Audience::Organization, SubjectKind::Organization)
        )
    }
}

/// `[plans.seats]`: an organization's plan that bills its members. The seat count follows Clerk's members
/// (and pending invitations when `count_invitations`); the subscription's seat item quantity is set to the
/// seats beyond `included`. The most seats is the plan's `seats` limit (`[plans.limits] seats = 50`), which
/// `POST /v1/check {"feature": "seats"}` answers before an invitation is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seats {
    #[serde(default)]
    pub included: u64,
    #[serde(default, alias = "count_invitations")]
    pub count_invitations: bool,
    /// The per-seat prices, one per interval the plan is sold at (lookup keys; `entitle catalog apply`
    /// creates them on the plan's product).
    #[serde(default)]
    pub prices: Vec<CatalogPrice>,
}

impl Seats {
    /// The seat item's quantity for `seats` members: those beyond the included ones.
    pub fn billed(&self, seats: u64) -> u64 {
        seats.saturating_sub(self.included)
    }
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

impl PlanCatalog {
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

    /// The words of every described feature (empty when the catalog has no `[features]` table).
    pub fn feature_words(&self) -> &BTreeMap<String, FeatureWords> {
        &self.features
    }

    /// The words of every limit that has them.
    pub fn limit_words(&self) -> &BTreeMap<String, LimitWords> {
        &self.limit_words
    }

    /// The display name of feature `id`, or `id` itself in a catalog that does not describe it.
    pub fn feature_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.features.get(id).map_or(id, |w| w.name.as_str())
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
    ///
    /// A per-seat price is no plan of its own (`None`): the seats it bills come with the plan's item.
    pub fn plan_for_item(
        &self,
        price_id: &str,
        lookup_key: Option<&str>,
        catalog_id: Option<&str>,
    ) -> Option<&Plan> {
        if self.seat_price(price_id, lookup_key).is_some() {
            return None;
        }
        self.plan_for_price(price_id, lookup_key)
            .or_else(|| self.plan(catalog_id?))
    }

    /// The plan whose per-seat price this is (by price id, else lookup key), and the price.
    pub fn seat_price(
        &self,
        price_id: &str,
        lookup_key: Option<&str>,
    ) -> Option<(&Plan, &CatalogPrice)> {
        let by_id = |p: &CatalogPrice| p.id.as_deref() == Some(price_id);
        let by_key =
            |p: &CatalogPrice| lookup_key.is_some() && p.lookup_key.as_deref() == lookup_key;
        self.plans.iter().find_map(|plan| {
            let seats = plan.seats.as_ref()?;
            seats
                .prices
                .iter()
                .find(|p| by_id(p))
                .or_else(|| seats.prices.iter().find(|p| by_key(p)))
                .map(|price| (plan, price))
        })
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
