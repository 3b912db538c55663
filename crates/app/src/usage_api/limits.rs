//! A feature name resolved against the catalog: a limit (and its kind) or a plan flag. The allowance and the
//! counter that holds a limit come from the domain (`entitle_domain::usage::account`).
use entitle_core::api_error::ApiError;
use entitle_domain::plans::PlanCatalog;
pub use entitle_domain::usage::account::{allowance, counter, effective};
use entitle_domain::usage::LimitKind;

#[derive(Debug, Clone, PartialEq)]
pub enum Feature {
    /// A plan flag.
    Boolean,
    Limit(LimitKind),
}

pub fn resolve(catalog: &PlanCatalog, name: &str) -> Result<Feature, ApiError> {
    if let Some(decl) = catalog.limit_decl(name) {
        return Ok(Feature::Limit(decl.kind));
    }
    if catalog.is_feature(name) {
        return Ok(Feature::Boolean);
    }
    Err(ApiError::bad_request(
        "unknown_feature",
        format!("{name:?} is neither a limit nor a feature of the catalog"),
    ))
}
