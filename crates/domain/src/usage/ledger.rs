//! The credits ledger as read: each movement of a subject's credits balance (a pack bought, a spend, a
//! hold's commit, a refund) with the balance after it. Every movement is stored once, in the same
//! transaction as the change it records; the balance after each one is derived from the balance now,
//! walking back through the movements after it — so it needs no older row and no stored running total.
use crate::ids::SubjectId;
use crate::time::UnixTime;
use serde::Serialize;

/// One stored movement, newest first as the store returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// The record it was written with: `checkout#cs_…` (a pack bought), usage-api's idempotency record of a
    /// spend or a hold's settlement.
    pub key: String,
    /// What it did to the balance: positive for a purchase or refund, negative for a spend or commit.
    pub credits: i64,
    pub reason: String,
    pub at: UnixTime,
}

/// One movement with the balance after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Movement {
    /// RFC 3339.
    pub at: String,
    pub credits: i64,
    /// `purchase`, `spend`, `commit` or `refund`.
    pub kind: &'static str,
    pub reason: String,
    /// What recorded it (a Checkout Session for a purchase; usage-api's record of the request otherwise).
    pub source: String,
    pub balance_after: i64,
}

/// `GET /v1/credits/ledger`: the balance now and the movements that led to it, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditsLedger {
    pub subject: SubjectId,
    /// The credits balance: every movement summed (held credits are not spent yet, so still in it).
    pub balance: i64,
    /// Of the balance, what live holds reserve.
    pub held: i64,
    /// What a spend may take now: `balance − held`.
    pub available: i64,
    pub movements: Vec<Movement>,
    /// Older movements exist beyond the ones listed.
    pub truncated: bool,
}

fn kind(row: &LedgerRow) -> &'static str {
    match (row.key.starts_with("checkout#"), row.credits > 0) {
        (true, _) => "purchase",
        (false, true) => "refund",
        (false, false) if row.reason == "commit" => "commit",
        (false, false) => "spend",
    }
}

/// The movements of `rows` (newest first) with the balance after each, given the balance now.
pub fn movements(balance: i64, rows: &[LedgerRow]) -> Vec<Movement> {
    let mut after = balance;
    rows.iter()
        .map(|row| {
            let movement = Movement {
                at: row.at.to_rfc3339(),
                credits: row.credits,
                kind: kind(row),
                reason: row.reason.clone(),
                source: row.key.clone(),
                balance_after: after,
            };
            after -= row.credits;
            movement
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, credits: i64, reason: &str, at: i64) -> LedgerRow {
        LedgerRow {
            key: key.into(),
            credits,
            reason: reason.into(),
            at: UnixTime::from_secs(at),
        }
    }

    #[test]
    fn each_movement_carries_the_balance_after_it() {
        // Bought 1,000, spent 30, committed 20 of a hold, refunded 5: 955 now.
        let rows = [
            row("usage#k4", 5, "usage", 40),
            row("settle#h1", -20, "commit", 30),
            row("usage#k1", -30, "usage", 20),
            row("checkout#cs_1", 1000, "credit pack purchase", 10),
        ];
        let m = movements(955, &rows);
        let after: Vec<i64> = m.iter().map(|m| m.balance_after).collect();
        assert_eq!(after, [955, 950, 970, 1000]);
        let kinds: Vec<&str> = m.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, ["refund", "commit", "spend", "purchase"]);
        // The oldest movement's balance before it is what the ledger started from.
        assert_eq!(m[3].balance_after - m[3].credits, 0);
        assert_eq!(m[0].at, "1970-01-01T00:00:40Z");
    }

    #[test]
    fn a_truncated_ledger_still_ends_at_the_balance_now() {
        let rows = [row("usage#k9", -1, "usage", 9)];
        assert_eq!(movements(41, &rows)[0].balance_after, 41);
        assert!(movements(41, &[]).is_empty());
    }
}
