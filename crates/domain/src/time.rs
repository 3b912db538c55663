//! Unix time, injected wherever a decision depends on "now", and the RFC 3339 form the event contract uses;
//! calendar work is the `time` crate's.
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

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
        self.to_datetime()
            .format(RFC3339_UTC)
            .expect("a UTC timestamp always formats")
    }

    /// Reads the `YYYY-MM-DDTHH:MM:SSZ` form written by [`UnixTime::to_rfc3339`] (no offsets, no fractions:
    /// it is the form of our own contract, not a general RFC 3339 reader).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        PrimitiveDateTime::parse(text, RFC3339_UTC)
            .ok()
            .map(|t| Self(t.assume_utc().unix_timestamp()))
    }

    /// The instant as a UTC date-time, for calendar arithmetic (periods, month ends).
    pub fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.0).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    pub fn from_datetime(t: OffsetDateTime) -> Self {
        Self(t.unix_timestamp())
    }
}

const RFC3339_UTC: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

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
