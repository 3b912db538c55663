//! Reading a catalog: the built-in `config/plans.toml` or the file `PLAN_CATALOG` names, the TOML's raw
//! shape, and the conversion of its loosely typed values.
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use super::error::CatalogError;
use super::model::{CatalogPrice, Limit, PlanCatalog};
use crate::usage::Period;

/// The environment variable naming a catalog file to use instead of the built-in one.
pub const PLAN_CATALOG_ENV: &str = "PLAN_CATALOG";

pub(super) const BUILTIN_TOML: &str = include_str!("../../../../config/plans.toml");

#[cfg(test)]
pub(crate) const BUILTIN_TOML_FOR_TESTS: &str = BUILTIN_TOML;

static BUILTIN: LazyLock<PlanCatalog> = LazyLock::new(|| {
    PlanCatalog::parse(BUILTIN_TOML)
        .unwrap_or_else(|e| panic!("the built-in plan catalog config/plans.toml is invalid: {e}"))
});

impl PlanCatalog {
    /// Parses and validates a catalog in the TOML format described in the `plans` module.
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
}

// The file's shape. Kept apart from the public types so that only validation produces those, and so that a
// bad limit is reported with its plan's name rather than a bare TOML position.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCatalog {
    #[serde(default)]
    pub(super) plans: Vec<RawPlan>,
    #[serde(default)]
    pub(super) credit_packs: Vec<RawCreditPack>,
    #[serde(default)]
    pub(super) limits: BTreeMap<String, RawLimitDecl>,
    /// `[features]`: each feature's display name and description. Absent: a catalog written before it
    /// (its pages fall back to the identifiers); present: it describes every feature a plan grants.
    pub(super) features: Option<BTreeMap<String, super::model::FeatureWords>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimitDecl {
    pub(super) kind: RawKind,
    pub(super) resets: Option<Period>,
    pub(super) low_threshold: Option<u64>,
    /// Display name ("Messages a day"); with `unit`.
    pub(super) name: Option<String>,
    /// The counted thing, singular and plural (`{ one = "message", other = "messages" }`); with `name`.
    pub(super) unit: Option<super::model::Unit>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawKind {
    Metered,
    Allocated,
    Credits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlan {
    pub(super) id: String,
    pub(super) name: String,
    #[serde(default)]
    pub(super) default: bool,
    #[serde(default)]
    pub(super) contact_sales: bool,
    #[serde(default)]
    pub(super) addon: bool,
    pub(super) rank: Option<i64>,
    #[serde(default)]
    pub(super) features: BTreeSet<String>,
    #[serde(default)]
    pub(super) limits: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub(super) prices: Vec<CatalogPrice>,
    #[serde(default)]
    pub(super) overage: BTreeMap<String, toml::Value>,
    #[serde(default, rename = "for")]
    pub(super) audience: super::model::Audience,
    #[serde(default)]
    pub(super) seats: Option<super::model::Seats>,
    #[serde(default)]
    pub(super) member_limits: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCreditPack {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) credits: u64,
    pub(super) max_quantity: Option<u32>,
    #[serde(default)]
    pub(super) prices: Vec<CatalogPrice>,
}

/// A plan's `[plans.limits]` value as a [`Limit`], `None` when it is neither a count nor `"unlimited"`.
pub(super) fn limit(value: &toml::Value) -> Option<Limit> {
    match value {
        toml::Value::Integer(n) => u64::try_from(*n).ok().map(Limit::Finite),
        toml::Value::String(s) if s == "unlimited" => Some(Limit::Unlimited),
        _ => None,
    }
}

/// A TOML value as an error message shows it.
pub(super) fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => format!("a {}", other.type_str()),
    }
}
