//! Unix time, injected wherever a decision depends on "now", and the RFC 3339 form the event contract uses.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(i64);

impl UnixTime {
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs)
    }

    pub fn now() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Self(secs)
    }

    pub const fn secs(self) -> i64 {
        self.0
    }

    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.as_secs() as i64))
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn to_rfc3339(self) -> String {
        let days = self.0.div_euclid(86_400);
        let rem = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }
}

impl UnixTime {
    /// Reads the `YYYY-MM-DDTHH:MM:SSZ` form written by [`UnixTime::to_rfc3339`].
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() != 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'Z'
        {
            return None;
        }
        let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
        Some(Self(
            days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss,
        ))
    }
}

/// Howard Hinnant's civil-to-days algorithm.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants_as_rfc3339() {
        assert_eq!(UnixTime::from_secs(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            UnixTime::from_secs(951_782_400).to_rfc3339(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            UnixTime::from_secs(1_795_341_600).to_rfc3339(),
            "2026-11-22T10:00:00Z"
        );
        assert_eq!(UnixTime::from_secs(-1).to_rfc3339(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn rfc3339_round_trips_and_rejects_other_forms() {
        for secs in [0, 951_782_400, 1_795_341_600, 4_102_444_799] {
            let t = UnixTime::from_secs(secs);
            assert_eq!(UnixTime::parse_rfc3339(&t.to_rfc3339()), Some(t));
        }
        assert_eq!(UnixTime::parse_rfc3339("2026-11-22T10:00:00+01:00"), None);
        assert_eq!(UnixTime::parse_rfc3339("2026-13-22T10:00:00Z"), None);
    }
}
