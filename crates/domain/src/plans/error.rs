//! Why a plan catalog could not be read, parsed or validated.

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
    #[error("plan {plan:?}: [plans.seats] {reason}")]
    InvalidSeats { plan: String, reason: String },
    #[error("plan {plan:?}: [plans.member_limits] {limit:?} {reason}")]
    InvalidMemberLimit {
        plan: String,
        limit: String,
        reason: String,
    },
    #[error("[features] {feature:?}: {reason}")]
    InvalidFeature { feature: String, reason: String },
    #[error("plan {plan:?} grants the feature {feature:?}, which [features] does not describe (give it a `name` and a `description`)")]
    UndescribedFeature { plan: String, feature: String },
}
