//! The period a metered counter belongs to. The period is part of the counter's key, so the first use in a
//! new period finds no counter and starts at zero: no reset job, and old counters expire by TTL.
use super::kind::Period;
use crate::time::UnixTime;

/// One period of a metered limit: the key suffix that names it and when it ends (`resetsAt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// `d2026-11-22`, `m2026-11` or `p<end in Unix seconds>`.
    pub key: String,
    pub resets_at: UnixTime,
}

impl Window {
    /// The window of `period` holding `now`. `billing_period_end` is the end of the subscription's current
    /// period; without one (the free plan) or once it has passed, the calendar month stands in.
    pub fn of(period: Period, now: UnixTime, billing_period_end: Option<UnixTime>) -> Self {
        match period {
            Period::Day => {
                let day = now.secs().div_euclid(86_400);
                Self {
                    key: format!("d{}", &now.to_rfc3339()[..10]),
                    resets_at: UnixTime::from_secs((day + 1) * 86_400),
                }
            }
            Period::Month => month(now),
            Period::BillingPeriod => match billing_period_end {
                Some(end) if end > now => Self {
                    key: format!("p{}", end.secs()),
                    resets_at: end,
                },
                _ => month(now),
            },
        }
    }
}

fn month(now: UnixTime) -> Window {
    let text = now.to_rfc3339();
    let year: i64 = text[..4].parse().expect("a four-digit year");
    let month: i64 = text[5..7].parse().expect("a two-digit month");
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let resets_at =
        UnixTime::parse_rfc3339(&format!("{next_year:04}-{next_month:02}-01T00:00:00Z"))
            .expect("the first of a month is a valid instant");
    Window {
        key: format!("m{}", &text[..7]),
        resets_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> UnixTime {
        UnixTime::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn a_day_runs_from_midnight_to_midnight_utc() {
        let w = Window::of(Period::Day, at("2026-11-22T23:59:59Z"), None);
        assert_eq!(w.key, "d2026-11-22");
        assert_eq!(w.resets_at, at("2026-11-23T00:00:00Z"));
        let next = Window::of(Period::Day, at("2026-11-23T00:00:00Z"), None);
        assert_eq!(next.key, "d2026-11-23");
    }

    #[test]
    fn a_month_ends_on_the_first_of_the_next_including_in_december() {
        let w = Window::of(Period::Month, at("2026-12-31T12:00:00Z"), None);
        assert_eq!(w.key, "m2026-12");
        assert_eq!(w.resets_at, at("2027-01-01T00:00:00Z"));
        let feb = Window::of(Period::Month, at("2028-02-29T00:00:00Z"), None);
        assert_eq!(feb.resets_at, at("2028-03-01T00:00:00Z"));
    }

    #[test]
    fn a_billing_period_is_the_subscriptions_and_a_month_without_one() {
        let end = at("2026-12-05T10:00:00Z");
        let w = Window::of(Period::BillingPeriod, at("2026-11-22T10:00:00Z"), Some(end));
        assert_eq!((w.key.as_str(), w.resets_at), ("p1796464800", end));
        let lapsed = Window::of(Period::BillingPeriod, at("2026-12-06T00:00:00Z"), Some(end));
        assert_eq!(lapsed.key, "m2026-12");
        let free = Window::of(Period::BillingPeriod, at("2026-11-22T10:00:00Z"), None);
        assert_eq!(free.key, "m2026-11");
    }
}
