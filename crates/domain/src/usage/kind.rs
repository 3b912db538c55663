//! The kind of each limit of the catalog: metered (consumed, resets each period), allocated (things held,
//! +n / −n, never resets) or the credits balance (credit packs add to it, consumed, never resets).
use serde::{Deserialize, Serialize};

/// When a metered counter starts again at zero. `day` and `month` are UTC calendar periods;
/// `billing_period` is the subscription's current period (a calendar month without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Month,
    BillingPeriod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    Metered(Period),
    Allocated,
    Credits,
}

impl LimitKind {
    /// The name the API answers with in `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Metered(_) => "metered",
            LimitKind::Allocated => "allocated",
            LimitKind::Credits => "credits",
        }
    }

    /// Whether a negative amount is a valid change (a release of allocated things, a credit refund).
    pub fn allows_negative(self) -> bool {
        !matches!(self, LimitKind::Metered(_))
    }
}

/// A limit as the catalog declares it, once, in `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LimitDecl {
    pub kind: LimitKind,
    /// Credits only: `credits.low` is announced when the balance falls below this.
    pub low_threshold: Option<u64>,
}
