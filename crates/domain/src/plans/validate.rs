//! The catalog's rules: what [`PlanCatalog::parse`] checks once the TOML has its shape, while it turns the
//! raw types into the public ones. Checks run in a fixed order, so a broken catalog always reports the same
//! (first) error.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::error::CatalogError;
use super::model::{
    Audience, CatalogPrice, CreditPack, FeatureWords, Limit, LimitWords, Overage, Plan,
    PlanCatalog, Seats,
};
use super::parse::{describe, limit, RawCatalog, RawCreditPack, RawKind, RawLimitDecl, RawPlan};
use crate::usage::{LimitDecl, LimitKind};

/// What the catalog has claimed so far, across plans and packs: the ids, and the price references
/// (reference → owner).
#[derive(Default)]
struct Claims {
    ids: BTreeSet<String>,
    references: HashMap<String, String>,
}

impl Claims {
    /// Checks the id of a plan or pack (`what`) and claims it: ids are unique among plans and packs.
    fn id(&mut self, what: &str, id: &str) -> Result<(), CatalogError> {
        check_name(what, id)?;
        if !self.ids.insert(id.to_owned()) {
            return Err(CatalogError::DuplicateId { id: id.to_owned() });
        }
        Ok(())
    }

    /// The metered prices' lookup keys share the catalog's one namespace of price references.
    fn overage_prices(&mut self, plan: &Plan, owner: &str) -> Result<(), CatalogError> {
        for price in plan.overage_prices() {
            if let Some(first) = self
                .references
                .insert(price.lookup_key.clone(), owner.to_owned())
            {
                return Err(CatalogError::DuplicatePrice {
                    reference: price.lookup_key,
                    first,
                    owner: format!("{owner} (the overage price of {:?})", price.limit),
                });
            }
        }
        Ok(())
    }
}

impl RawCatalog {
    pub(super) fn validate(self) -> Result<PlanCatalog, CatalogError> {
        // First, so that a forgotten `default = true` is not reported as a free plan without prices.
        if !self.plans.iter().any(|p| p.default) {
            return Err(CatalogError::NoDefaultPlan);
        }
        let described = self.features.is_some();
        let (limit_decls, limit_words) = validate_limit_decls(self.limits, described)?;
        let mut claims = Claims::default();
        let mut default: Option<usize> = None;
        let mut plans: Vec<Plan> = Vec::with_capacity(self.plans.len());
        for (index, raw) in self.plans.into_iter().enumerate() {
            let plan = validate_plan(index, raw, &limit_decls, &mut claims, &mut default, &plans)?;
            plans.push(plan);
        }
        let default = default.ok_or(CatalogError::NoDefaultPlan)?;

        let mut credit_packs = Vec::with_capacity(self.credit_packs.len());
        for raw in self.credit_packs {
            credit_packs.push(validate_credit_pack(raw, &mut claims)?);
        }
        let features = validate_features(self.features.unwrap_or_default(), described, &plans)?;

        Ok(PlanCatalog {
            plans,
            credit_packs,
            default,
            limit_decls,
            features,
            limit_words,
        })
    }
}

/// The `index`th `[[plans]]` entry; `plans` are the ones before it, `default` the default plan among them.
fn validate_plan(
    index: usize,
    mut raw: RawPlan,
    decls: &BTreeMap<String, LimitDecl>,
    claims: &mut Claims,
    default: &mut Option<usize>,
    plans: &[Plan],
) -> Result<Plan, CatalogError> {
    let owner = format!("plan {:?}", raw.id);
    claims.id("plan id", &raw.id)?;
    check_plan_kind(index, &raw, default, plans)?;
    for feature in &raw.features {
        check_name(&format!("{owner}: feature"), feature)?;
    }
    let limits = validate_plan_limits(&raw.id, &owner, std::mem::take(&mut raw.limits), decls)?;
    for price in &raw.prices {
        check_recurring_price(price, &owner, &mut claims.references)?;
    }
    let mut overage = BTreeMap::new();
    for (name, value) in &raw.overage {
        let parsed = validate_overage(&raw, &limits, decls, name, value).map_err(|reason| {
            CatalogError::InvalidOverage {
                plan: raw.id.clone(),
                limit: name.clone(),
                reason,
            }
        })?;
        overage.insert(name.clone(), parsed);
    }
    if let Some(seats) = &raw.seats {
        validate_seats(&raw, seats, &limits, &owner, &mut claims.references)?;
    }
    let member_limits = validate_member_limits(&raw, &limits, decls)?;
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
        audience: raw.audience,
        seats: raw.seats,
        member_limits,
    };
    claims.overage_prices(&plan, &owner)?;
    Ok(plan)
}

/// `[plans.seats]`: only on a base plan an organization can buy, with a `seats` limit (the most seats,
/// or `"unlimited"`), and one recurring seat price per interval the plan is sold at, in the plan's currency.
fn validate_seats(
    raw: &RawPlan,
    seats: &Seats,
    limits: &BTreeMap<String, Limit>,
    owner: &str,
    references: &mut HashMap<String, String>,
) -> Result<(), CatalogError> {
    let error = |reason: String| CatalogError::InvalidSeats {
        plan: raw.id.clone(),
        reason,
    };
    if raw.default || raw.addon {
        return Err(error(
            "is only for a sold base plan, not the free plan or an add-on".into(),
        ));
    }
    if raw.audience == Audience::User {
        return Err(error(
            "needs a plan an organization can buy (`for` = \"organization\" or \"both\")".into(),
        ));
    }
    match limits.get("seats") {
        None => {
            return Err(error(
                "needs a `seats` limit in [plans.limits] (the most seats, or \"unlimited\")".into(),
            ))
        }
        Some(Limit::Finite(max)) if *max < seats.included => {
            return Err(error(format!(
                "includes {} seats but the `seats` limit is {max}",
                seats.included
            )))
        }
        Some(_) => {}
    }
    for price in &seats.prices {
        check_recurring_price(price, &format!("{owner} seats"), references)?;
        let sold = raw.prices.iter().find(|p| p.interval == price.interval);
        let Some(sold) = sold else {
            return Err(error(format!(
                "seat price {} is billed at an interval the plan is not sold at",
                price.reference()
            )));
        };
        if sold.currency.is_some() && price.currency.is_some() && sold.currency != price.currency {
            return Err(error(format!(
                "seat price {} is in another currency than the plan",
                price.reference()
            )));
        }
    }
    if seats.prices.is_empty() && !raw.contact_sales {
        return Err(error(
            "needs `prices`: the per-seat price of each interval the plan is sold at".into(),
        ));
    }
    Ok(())
}

/// `[plans.member_limits]`: per-member caps inside an organization's pool — on a plan an organization can
/// have (not an add-on), for a metered or allocated limit the plan sets, each a positive count no larger than
/// the pool.
fn validate_member_limits(
    raw: &RawPlan,
    limits: &BTreeMap<String, Limit>,
    decls: &BTreeMap<String, LimitDecl>,
) -> Result<BTreeMap<String, u64>, CatalogError> {
    let mut caps = BTreeMap::new();
    for (name, value) in &raw.member_limits {
        let error = |reason: String| CatalogError::InvalidMemberLimit {
            plan: raw.id.clone(),
            limit: name.clone(),
            reason,
        };
        if raw.addon {
            return Err(error(
                "is on an add-on; caps come with the base plan".into(),
            ));
        }
        if raw.audience == Audience::User {
            return Err(error(
                "needs a plan an organization can buy (`for` = \"organization\" or \"both\")"
                    .into(),
            ));
        }
        match decls.get(name).map(|d| d.kind) {
            Some(LimitKind::Metered(_) | LimitKind::Allocated) => {}
            Some(LimitKind::Credits) => {
                return Err(error(
                    "is the credits balance, which is the organization's alone".into(),
                ))
            }
            None => return Err(error("is not declared in `[limits]`".into())),
        }
        if name == "seats" {
            return Err(error(
                "is counted from Clerk's members, not per member".into(),
            ));
        }
        let cap = match value {
            toml::Value::Integer(n) if *n > 0 => *n as u64,
            other => {
                return Err(error(format!(
                    "= {} is not a positive integer",
                    describe(other)
                )))
            }
        };
        match limits.get(name) {
            None => {
                return Err(error(
                    "caps a limit the plan does not set in [plans.limits]".into(),
                ))
            }
            Some(Limit::Finite(pool)) if cap > *pool => {
                return Err(error(format!("= {cap} is more than the pool ({pool})")))
            }
            Some(_) => {}
        }
        caps.insert(name.clone(), cap);
    }
    Ok(caps)
}

/// A plan's place in the catalog: the one free default (never sold, never an add-on), a base plan (sold, or
/// sold by sales), or an unranked add-on. `default` becomes `index` when this is the default plan.
fn check_plan_kind(
    index: usize,
    raw: &RawPlan,
    default: &mut Option<usize>,
    plans: &[Plan],
) -> Result<(), CatalogError> {
    let plan = || raw.id.clone();
    if raw.default && raw.addon {
        return Err(CatalogError::DefaultPlanIsAddon { plan: plan() });
    }
    if raw.addon && raw.rank.is_some() {
        return Err(CatalogError::AddonWithRank { plan: plan() });
    }
    if raw.default {
        if let Some(first) = *default {
            return Err(CatalogError::SeveralDefaultPlans {
                first: plans[first].id.clone(),
                second: plan(),
            });
        }
        *default = Some(index);
        if !raw.prices.is_empty() {
            return Err(CatalogError::DefaultPlanHasPrices { plan: plan() });
        }
    } else if raw.prices.is_empty() && !raw.contact_sales {
        return Err(CatalogError::PlanWithoutPrices { plan: plan() });
    }
    Ok(())
}

/// A plan's `[plans.limits]`: each declared in `[limits]`, none the credits balance, each a count or
/// `"unlimited"`.
fn validate_plan_limits(
    plan: &str,
    owner: &str,
    raw: BTreeMap<String, toml::Value>,
    decls: &BTreeMap<String, LimitDecl>,
) -> Result<BTreeMap<String, Limit>, CatalogError> {
    let mut limits = BTreeMap::new();
    for (name, value) in raw {
        check_name(&format!("{owner}: limit"), &name)?;
        match decls.get(&name).map(|d| d.kind) {
            None => {
                return Err(CatalogError::UndeclaredLimit {
                    plan: plan.to_owned(),
                    limit: name,
                })
            }
            Some(LimitKind::Credits) => {
                return Err(CatalogError::PlanSetsCredits {
                    plan: plan.to_owned(),
                    limit: name,
                })
            }
            Some(_) => {}
        }
        let limit = limit(&value).ok_or_else(|| CatalogError::InvalidLimit {
            plan: plan.to_owned(),
            limit: name.clone(),
            value: describe(&value),
        })?;
        limits.insert(name, limit);
    }
    Ok(limits)
}

/// A plan's price: valid references, recurring, and a trial Stripe allows.
fn check_recurring_price(
    price: &CatalogPrice,
    owner: &str,
    references: &mut HashMap<String, String>,
) -> Result<(), CatalogError> {
    check_price(price, owner, references)?;
    if price.interval.is_none() {
        return Err(CatalogError::PriceWithoutInterval {
            owner: owner.to_owned(),
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
            owner: owner.to_owned(),
            price: price.reference().to_owned(),
            reason,
        });
    }
    Ok(())
}

/// A `[[credit_packs]]` entry: some credits, a positive `max_quantity`, one-time prices.
fn validate_credit_pack(
    raw: RawCreditPack,
    claims: &mut Claims,
) -> Result<CreditPack, CatalogError> {
    let owner = format!("credit pack {:?}", raw.id);
    claims.id("credit pack id", &raw.id)?;
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
        check_one_time_price(price, &owner, &mut claims.references)?;
    }
    Ok(CreditPack {
        id: raw.id,
        name: raw.name,
        credits: raw.credits,
        max_quantity,
        prices: raw.prices,
    })
}

/// A credit pack's price: valid references, one-time, no trial.
fn check_one_time_price(
    price: &CatalogPrice,
    owner: &str,
    references: &mut HashMap<String, String>,
) -> Result<(), CatalogError> {
    check_price(price, owner, references)?;
    if price.interval.is_some() {
        return Err(CatalogError::OneTimePriceWithInterval {
            owner: owner.to_owned(),
            price: price.reference().to_owned(),
        });
    }
    if price.trial_days.is_some() || price.trial_requires_payment_method.is_some() {
        return Err(CatalogError::InvalidTrial {
            owner: owner.to_owned(),
            price: price.reference().to_owned(),
            reason: "a one-time price has no trial",
        });
    }
    Ok(())
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
    check_overage_applies(plan, limits, decls, name)?;
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
    let currency = overage_currency(plan, table)?;
    Ok(Overage {
        unit_amount,
        per,
        currency,
    })
}

/// Whether the plan may bill overage of limit `name` at all: a metered limit it includes a finite amount
/// of, on a base plan sold with recurring prices.
fn check_overage_applies(
    plan: &RawPlan,
    limits: &BTreeMap<String, Limit>,
    decls: &BTreeMap<String, LimitDecl>,
    name: &str,
) -> Result<(), String> {
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
    Ok(())
}

/// An overage's `currency`: a three-letter code, lowercased, the one the plan's prices bill in.
fn overage_currency(plan: &RawPlan, table: &toml::Table) -> Result<String, String> {
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
    Ok(currency)
}

/// The longest name Stripe takes for an Entitlements feature (`entitle catalog apply` creates it so named).
const MAX_FEATURE_NAME: usize = 80;

/// `[features]` (when the catalog has the table, `described`): every feature a plan or add-on grants is
/// described (so a misspelt entry leaves its feature undescribed: an error), and each name and description is
/// words, not blanks. An entry no plan grants is allowed: dropping a plan does not force rewording the rest.
fn validate_features(
    raw: BTreeMap<String, FeatureWords>,
    described: bool,
    plans: &[Plan],
) -> Result<BTreeMap<String, FeatureWords>, CatalogError> {
    if !described {
        return Ok(raw);
    }
    for (feature, words) in &raw {
        check_name("feature", feature)?;
        let invalid = |reason: &str| CatalogError::InvalidFeature {
            feature: feature.clone(),
            reason: reason.to_owned(),
        };
        if let Some(field) =
            blank_field(&[("name", &words.name), ("description", &words.description)])
        {
            return Err(invalid(&format!(
                "`{field}` is blank or has surrounding spaces"
            )));
        }
        // `entitle catalog apply` names the Stripe Entitlements feature so; Stripe takes at most 80 characters.
        if words.name.chars().count() > MAX_FEATURE_NAME {
            return Err(invalid(&format!(
                "`name` is longer than {MAX_FEATURE_NAME} characters (Stripe's limit on a feature's name)"
            )));
        }
    }
    for plan in plans {
        if let Some(feature) = plan.features.iter().find(|f| !raw.contains_key(*f)) {
            return Err(CatalogError::UndescribedFeature {
                plan: plan.id.clone(),
                feature: feature.clone(),
            });
        }
    }
    Ok(raw)
}

/// The first of `fields` (name, value) that is blank or padded with spaces.
fn blank_field<'a>(fields: &[(&'a str, &str)]) -> Option<&'a str> {
    fields
        .iter()
        .find(|(_, value)| value.trim().is_empty() || value.trim() != *value)
        .map(|(field, _)| *field)
}

/// A limit's `name` and `unit`: both or neither, and both when the catalog describes its features
/// (`described`), so that a catalog with words has them everywhere.
fn validate_limit_words(
    name: Option<String>,
    unit: Option<super::model::Unit>,
    described: bool,
) -> Result<Option<LimitWords>, String> {
    match (name, unit) {
        (None, None) if !described => Ok(None),
        (Some(name), Some(unit)) => {
            let fields = [("name", name.as_str()), ("unit.one", &unit.one), ("unit.other", &unit.other)];
            match blank_field(&fields) {
                Some(field) => Err(format!("`{field}` is blank or has surrounding spaces")),
                None => Ok(Some(LimitWords { name, unit })),
            }
        }
        (Some(_), None) => Err("has a `name` but no `unit` (e.g. `unit = { one = \"agent\", other = \"agents\" }`)".into()),
        (None, Some(_)) => Err("has a `unit` but no `name`".into()),
        (None, None) => Err(
            "needs a `name` and a `unit`: the catalog has a [features] table, so every limit is described too".into(),
        ),
    }
}

/// `[limits]` validated: each limit's declaration, and the words of those that have them.
type LimitTables = (BTreeMap<String, LimitDecl>, BTreeMap<String, LimitWords>);

/// `[limits]`: each name snake_case; `resets` on metered limits only; one credits balance at most, the only
/// one with a `low_threshold`; display words as [`validate_limit_words`] wants them.
fn validate_limit_decls(
    raw: BTreeMap<String, RawLimitDecl>,
    described: bool,
) -> Result<LimitTables, CatalogError> {
    let mut decls = BTreeMap::new();
    let mut words = BTreeMap::new();
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
        if let Some(w) =
            validate_limit_words(decl.name, decl.unit, described).map_err(|r| invalid(&r))?
        {
            words.insert(name.clone(), w);
        }
        decls.insert(
            name,
            LimitDecl {
                kind,
                low_threshold: decl.low_threshold,
            },
        );
    }
    Ok((decls, words))
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
