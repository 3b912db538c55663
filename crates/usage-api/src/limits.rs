//! A feature name resolved against the catalog and the user's entitlements: its kind, the plan's
//! allowance, and the counter (with its period) that holds it.
use entitle_core::api_error::ApiError;
use entitle_domain::entitlements::Entitlements;
use entitle_domain::ids::UserId;
use entitle_domain::plans::{Limit, PlanCatalog};
use entitle_domain::ports::usage::CounterKey;
use entitle_domain::time::UnixTime;
use entitle_domain::usage::decision::Allowance;
use entitle_domain::usage::{LimitKind, Period, Window};

/// Metered counters are kept this long after their period ends (history for `GET /v1/usage`, overage).
const COUNTER_RETENTION_SECS: i64 = 35 * 86_400;

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

/// What the user's plan grants of `limit`: the catalog's plan first (so a plan change or catalog change
/// applies at once), the stored limits for a plan the catalog no longer has.
pub fn allowance(catalog: &PlanCatalog, entitlements: &Entitlements, limit: &str) -> Allowance {
    let limits = catalog
        .plan(&entitlements.plan)
        .map_or(&entitlements.limits, |p| &p.limits);
    match limits.get(limit) {
        Some(limit) => Allowance {
            limit: *limit,
            in_plan: true,
        },
        None => Allowance {
            limit: Limit::Finite(0),
            in_plan: false,
        },
    }
}

/// The counter of `limit` at `now` and, for metered limits, when its period ends.
pub fn counter(
    user: &UserId,
    limit: &str,
    kind: LimitKind,
    entitlements: Option<&Entitlements>,
    now: UnixTime,
) -> (CounterKey, Option<UnixTime>) {
    match kind {
        LimitKind::Metered(period) => {
            let end = match period {
                Period::BillingPeriod => entitlements
                    .and_then(|e| e.period_end.as_deref())
                    .and_then(UnixTime::parse_rfc3339),
                _ => None,
            };
            let window = Window::of(period, now, end);
            (
                CounterKey {
                    user: user.clone(),
                    name: format!("{limit}#{}", window.key),
                    expires_at: Some(UnixTime::from_secs(
                        window.resets_at.secs() + COUNTER_RETENTION_SECS,
                    )),
                },
                Some(window.resets_at),
            )
        }
        _ => (
            CounterKey {
                user: user.clone(),
                name: limit.to_owned(),
                expires_at: None,
            },
            None,
        ),
    }
}

/// The entitlements that hold at `now`: the stored ones (lapsed plans fall back), else the free plan.
pub fn effective(
    catalog: &PlanCatalog,
    user: &UserId,
    stored: Option<Entitlements>,
    now: UnixTime,
) -> Entitlements {
    match stored {
        Some(e) => e.effective(now, catalog),
        None => Entitlements::free(user.clone(), catalog),
    }
}
