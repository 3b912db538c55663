//! The names Entitle gives Stripe objects for the catalog: interval names, the lookup keys of metered
//! overage prices, billing meter event names.
use super::model::{Interval, Overage, Plan};

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
