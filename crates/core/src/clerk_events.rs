//! Clerk's webhook payload: the envelope and the parts of a user we keep in sync.
use entitle_domain::ports::CustomerProfile;
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Debug, Deserialize)]
pub struct ClerkEnvelope<'a> {
    #[serde(rename = "type")]
    pub event_type: String,
    /// Milliseconds since the epoch.
    pub timestamp: Option<i64>,
    #[serde(borrow)]
    pub data: &'a RawValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserEvent {
    Created,
    Updated,
    Deleted,
}

impl UserEvent {
    pub fn parse(event_type: &str) -> Option<Self> {
        match event_type {
            "user.created" => Some(Self::Created),
            "user.updated" => Some(Self::Updated),
            "user.deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

/// A Clerk user object (`user.deleted` carries only `id`).
#[derive(Debug, Deserialize)]
pub struct ClerkUser {
    pub id: String,
    #[serde(default)]
    pub email_addresses: Vec<EmailAddress>,
    pub primary_email_address_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct EmailAddress {
    pub id: String,
    pub email_address: String,
}

impl ClerkUser {
    /// Email = the primary address; name = first + last.
    pub fn profile(&self) -> CustomerProfile {
        let email = self
            .primary_email_address_id
            .as_deref()
            .and_then(|primary| self.email_addresses.iter().find(|e| e.id == primary))
            .map(|e| e.email_address.clone());
        let name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        CustomerProfile {
            email,
            name: (!name.is_empty()).then_some(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_is_the_primary_email_and_the_full_name() {
        let event: ClerkEnvelope<'_> =
            serde_json::from_str(include_str!("../../../fixtures/clerk/user.updated.json"))
                .unwrap();
        let user: ClerkUser = serde_json::from_str(event.data.get()).unwrap();
        assert_eq!(
            user.profile(),
            CustomerProfile {
                email: Some("ada.old@example.com".into()),
                name: Some("Augusta Ada Lovelace".into()),
            }
        );
    }

    #[test]
    fn a_deleted_user_has_only_an_id_and_an_empty_profile() {
        let event: ClerkEnvelope<'_> =
            serde_json::from_str(include_str!("../../../fixtures/clerk/user.deleted.json"))
                .unwrap();
        let user: ClerkUser = serde_json::from_str(event.data.get()).unwrap();
        assert_eq!(user.id, "user_2abcDEFghiJKLmnoPQRstuVWxyz");
        assert_eq!(user.profile(), CustomerProfile::default());
    }
}
