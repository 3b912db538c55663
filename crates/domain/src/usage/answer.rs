//! The answers about limits, typed: usage-api's `POST /v1/check`, `POST /v1/usage` and a hold's commit or
//! release ([`LimitAnswer`]), and `GET /v1/usage` of usage-api and billing-api ([`UsageReport`]). The CLI
//! reads the same types back.
//!
//! Fields are declared in alphabetical order on purpose: these answers replaced JSON maps (which serialize
//! sorted), so the bytes on the wire — and in the idempotency records replayed to retries — stay the same.
use super::{Decision, LimitKind, Reason};
use crate::ids::SubjectId;
use crate::plans::Limit;
use crate::time::UnixTime;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a name in the catalog is: a plan flag (`boolean`) or a limit of one of the three kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureKind {
    Boolean,
    Metered,
    Allocated,
    Credits,
}

impl FeatureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureKind::Boolean => "boolean",
            FeatureKind::Metered => "metered",
            FeatureKind::Allocated => "allocated",
            FeatureKind::Credits => "credits",
        }
    }
}

impl From<Option<LimitKind>> for FeatureKind {
    fn from(kind: Option<LimitKind>) -> Self {
        match kind {
            None => FeatureKind::Boolean,
            Some(LimitKind::Metered(_)) => FeatureKind::Metered,
            Some(LimitKind::Allocated) => FeatureKind::Allocated,
            Some(LimitKind::Credits) => FeatureKind::Credits,
        }
    }
}

/// A count, or `"unlimited"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Count(i64),
    Unlimited,
}

impl Bound {
    pub fn count(self) -> Option<i64> {
        match self {
            Bound::Count(n) => Some(n),
            Bound::Unlimited => None,
        }
    }
}

impl From<Limit> for Bound {
    fn from(limit: Limit) -> Self {
        match limit {
            Limit::Finite(n) => Bound::Count(n as i64),
            Limit::Unlimited => Bound::Unlimited,
        }
    }
}

impl Serialize for Bound {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Bound::Count(n) => serializer.serialize_i64(*n),
            Bound::Unlimited => serializer.serialize_str("unlimited"),
        }
    }
}

impl<'de> Deserialize<'de> for Bound {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Count(i64),
            Word(String),
        }
        match Wire::deserialize(deserializer)? {
            Wire::Count(n) => Ok(Bound::Count(n)),
            Wire::Word(w) if w == "unlimited" => Ok(Bound::Unlimited),
            Wire::Word(w) => Err(serde::de::Error::custom(format!(
                "expected a count or \"unlimited\", not {w:?}"
            ))),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let word = String::deserialize(deserializer)?;
        [
            Reason::LimitExceeded,
            Reason::MemberLimitExceeded,
            Reason::InsufficientCredits,
            Reason::NotInPlan,
        ]
        .into_iter()
        .find(|r| r.as_str() == word)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown reason {word:?}")))
    }
}

/// The answer about one limit or flag (DESIGN.md): allowed or why not, and the picture after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitAnswer {
    pub allowed: bool,
    pub feature: String,
    pub held: i64,
    pub kind: FeatureKind,
    /// `null` for a flag and for credits (a balance has no limit).
    pub limit: Option<Bound>,
    /// A request naming a member (`memberId`) of an organization whose plan caps this limit per member: the
    /// member's own picture inside the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberUsage>,
    /// Limits with overage only: the units of this change beyond the included amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overage: Option<i64>,
    pub plan: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// `null` for a flag.
    pub remaining: Option<Bound>,
    pub resets_at: Option<String>,
    /// A hold's id (commit / release it), or the id of a change that recorded overage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_id: Option<String>,
    pub used: i64,
    pub user_id: SubjectId,
}

/// What a limit's answer is made of: whose, which, under which plan and allowance, decided how.
#[derive(Debug, Clone, Copy)]
pub struct Decided<'a> {
    pub user: &'a SubjectId,
    pub feature: &'a str,
    /// `None`: a plan flag.
    pub kind: Option<LimitKind>,
    pub plan: &'a str,
    pub allowance: super::decision::Allowance,
    pub decision: &'a Decision,
    pub resets_at: Option<UnixTime>,
}

impl Decided<'_> {
    /// The answer about one limit (`POST /v1/check`, `POST /v1/usage`, commit, release).
    pub fn answer(&self) -> LimitAnswer {
        let line = self.line(self.decision.overage);
        LimitAnswer {
            allowed: self.decision.allowed,
            feature: line.feature,
            held: line.held,
            kind: line.kind,
            limit: line.limit,
            member: None,
            overage: line.overage,
            plan: self.plan.to_owned(),
            reason: self.decision.reason,
            remaining: line.remaining,
            resets_at: line.resets_at,
            usage_id: None,
            used: line.used,
            user_id: self.user.clone(),
        }
    }

    /// The limit's line of `GET /v1/usage`, `overage` being the period's so far (a line has no decision, so no
    /// `reason`).
    pub fn line(&self, overage: i64) -> UsageLine {
        let kind = self.kind;
        let d = self.decision;
        UsageLine {
            feature: self.feature.to_owned(),
            held: d.held,
            kind: FeatureKind::from(kind),
            limit: match kind {
                None | Some(LimitKind::Credits) => None,
                Some(_) => Some(self.allowance.limit.into()),
            },
            member: None,
            overage: kind
                .is_some_and(|k| self.allowance.overage_above(k).is_some())
                .then_some(overage),
            remaining: match d.remaining {
                Some(n) => Some(Bound::Count(n)),
                None if kind.is_none() => None,
                None => Some(Bound::Unlimited),
            },
            resets_at: self.resets_at.map(UnixTime::to_rfc3339),
            used: d.used,
        }
    }
}

/// One limit of `GET /v1/usage`: the answer's picture without the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageLine {
    pub feature: String,
    pub held: i64,
    pub kind: FeatureKind,
    pub limit: Option<Bound>,
    /// `GET /v1/usage?memberId=`: the member's own picture of a limit their plan caps per member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberUsage>,
    /// Limits with overage only: the period's overage so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overage: Option<i64>,
    pub remaining: Option<Bound>,
    pub resets_at: Option<String>,
    pub used: i64,
}

/// One member's use of a limit inside an organization's pool, against their per-member cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberUsage {
    pub held: i64,
    /// The per-member cap (`[plans.member_limits]`).
    pub limit: i64,
    pub member_id: crate::ids::UserId,
    pub remaining: i64,
    pub used: i64,
}

impl MemberUsage {
    /// The member's picture from their counter's decision under their cap.
    pub fn of(member: &crate::ids::UserId, cap: u64, decision: &Decision) -> Self {
        Self {
            held: decision.held,
            limit: cap as i64,
            member_id: member.clone(),
            remaining: decision.remaining.unwrap_or(0),
            used: decision.used,
        }
    }
}

/// `GET /v1/usage`: every metered, allocated and credits limit of the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    pub plan: String,
    pub usage: Vec<UsageLine>,
    pub user_id: SubjectId,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::decision::Allowance;

    #[test]
    fn the_typed_answers_are_the_bytes_the_json_maps_were_and_read_back() {
        let user = SubjectId::parse("user_2abcDEFghiJKLmnoPQRstuVWxyz").unwrap();
        let decision = Decision {
            allowed: false,
            reason: Some(Reason::LimitExceeded),
            used: 40,
            held: 2,
            remaining: Some(0),
            overage: 3,
        };
        let decided = Decided {
            user: &user,
            feature: "messages_per_month",
            kind: Some(LimitKind::Metered(crate::usage::Period::Month)),
            plan: "pro",
            allowance: Allowance {
                limit: Limit::Finite(40),
                in_plan: true,
                overage: true,
            },
            decision: &decision,
            resets_at: Some(UnixTime::from_secs(1_795_341_600)),
        };
        let mut answer = decided.answer();
        answer.usage_id = Some("u_abc".into());
        let bytes = serde_json::to_string(&answer).unwrap();
        // serde_json's map sorts its keys: the bytes of the JSON map this answer was built as before.
        assert_eq!(bytes, serde_json::to_value(&answer).unwrap().to_string());
        assert_eq!(serde_json::from_str::<LimitAnswer>(&bytes).unwrap(), answer);
        let report = UsageReport {
            plan: "pro".into(),
            usage: vec![decided.line(5)],
            user_id: user.clone(),
        };
        let bytes = serde_json::to_string(&report).unwrap();
        assert_eq!(bytes, serde_json::to_value(&report).unwrap().to_string());
        assert_eq!(serde_json::from_str::<UsageReport>(&bytes).unwrap(), report);
        assert_eq!(
            serde_json::to_string(&[Bound::Count(-1), Bound::Unlimited]).unwrap(),
            r#"[-1,"unlimited"]"#
        );
    }
}
