//! Identifier newtypes parsed at the edge, so the rest of the code never sees an unchecked string.
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct IdError {
    pub kind: &'static str,
    pub reason: &'static str,
}

fn check(kind: &'static str, s: &str, prefix: &str, max: usize) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError {
            kind,
            reason: "empty",
        });
    }
    if s.len() > max {
        return Err(IdError {
            kind,
            reason: "too long",
        });
    }
    if !s.starts_with(prefix) {
        return Err(IdError {
            kind,
            reason: "wrong prefix",
        });
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(IdError {
            kind,
            reason: "unexpected character",
        });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $prefix:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check($kind, &s, $prefix, $max)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A webhook event id (`evt_…` from Stripe, `msg_…` from Svix) or one of ours.
    EventId, "event id", "", 255
);
id_type!(
    /// A Clerk user id (`user_…`): the person signed in, a member of an organization.
    UserId, "user id", "user_", 128
);
id_type!(
    /// A Clerk organization id (`org_…`).
    OrgId, "organization id", "org_", 128
);
id_type!(
    /// A Stripe customer id (`cus_…`).
    StripeCustomerId, "Stripe customer id", "cus_", 255
);

/// Who is billed and entitled: a Clerk user (`user_…`) or a Clerk organization (`org_…`). Every table, counter,
/// credit balance, Stripe customer and Clerk mirror is keyed by it; a user's rows from before organizations
/// existed are a user subject's rows, unchanged.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SubjectId(String);

/// What kind of subject an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    User,
    Organization,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::User => "user",
            SubjectKind::Organization => "organization",
        }
    }
}

impl SubjectId {
    pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
        let s = s.into();
        let prefix = if s.starts_with("org_") {
            "org_"
        } else {
            "user_"
        };
        check("subject id (user_… or org_…)", &s, prefix, 128)?;
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> SubjectKind {
        if self.0.starts_with("org_") {
            SubjectKind::Organization
        } else {
            SubjectKind::User
        }
    }

    /// The user, when the subject is one.
    pub fn user(&self) -> Option<UserId> {
        UserId::parse(self.0.clone()).ok()
    }

    /// The organization, when the subject is one.
    pub fn organization(&self) -> Option<OrgId> {
        OrgId::parse(self.0.clone()).ok()
    }
}

impl TryFrom<String> for SubjectId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

impl From<SubjectId> for String {
    fn from(id: SubjectId) -> String {
        id.0
    }
}

impl From<UserId> for SubjectId {
    fn from(id: UserId) -> SubjectId {
        SubjectId(id.0)
    }
}

impl From<&UserId> for SubjectId {
    fn from(id: &UserId) -> SubjectId {
        SubjectId(id.0.clone())
    }
}

impl From<OrgId> for SubjectId {
    fn from(id: OrgId) -> SubjectId {
        SubjectId(id.0)
    }
}

impl From<&OrgId> for SubjectId {
    fn from(id: &OrgId) -> SubjectId {
        SubjectId(id.0.clone())
    }
}

impl fmt::Display for SubjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_must_look_like_clerk_ids() {
        assert!(UserId::parse("user_2abcDEF").is_ok());
        assert_eq!(UserId::parse("").unwrap_err().reason, "empty");
        assert_eq!(UserId::parse("usr_1").unwrap_err().reason, "wrong prefix");
        assert_eq!(
            UserId::parse("user_1 OR 1=1").unwrap_err().reason,
            "unexpected character"
        );
    }

    #[test]
    fn customer_ids_round_trip_through_json() {
        let id = StripeCustomerId::parse("cus_PqR5").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"cus_PqR5\"");
        assert_eq!(serde_json::from_str::<StripeCustomerId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<StripeCustomerId>("\"acct_1\"").is_err());
    }

    #[test]
    fn a_subject_is_a_user_or_an_organization_and_nothing_else() {
        let user = SubjectId::parse("user_2abc").unwrap();
        assert_eq!(user.kind(), SubjectKind::User);
        assert_eq!(user.user().unwrap().as_str(), "user_2abc");
        assert!(user.organization().is_none());
        let org = SubjectId::parse("org_2xyz").unwrap();
        assert_eq!(org.kind(), SubjectKind::Organization);
        assert_eq!(org.organization().unwrap().as_str(), "org_2xyz");
        assert!(org.user().is_none());
        assert_eq!(
            SubjectId::parse("cus_1").unwrap_err().reason,
            "wrong prefix"
        );
        assert_eq!(
            SubjectId::parse("org_1;x").unwrap_err().reason,
            "unexpected character"
        );
        assert_eq!(SubjectId::parse("").unwrap_err().reason, "empty");
        let back: SubjectId = serde_json::from_str("\"org_2xyz\"").unwrap();
        assert_eq!(back, org);
        assert!(serde_json::from_str::<SubjectId>("\"sess_1\"").is_err());
    }
}
