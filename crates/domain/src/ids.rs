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
    /// A Clerk user id (`user_…`).
    UserId, "user id", "user_", 128
);
id_type!(
    /// A Stripe customer id (`cus_…`).
    StripeCustomerId, "Stripe customer id", "cus_", 255
);

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
}
