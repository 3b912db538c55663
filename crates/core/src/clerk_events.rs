//! Clerk's webhook payload: the envelope, the parts of a user and of an organization we keep in sync, and
//! the membership and invitation events that prompt an organization's seat recount.
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

/// What a Clerk event is about, by its type: a user, an organization, or an organization's members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    User(UserEvent),
    Organization(UserEvent),
    /// `organizationMembership.created|updated|deleted`, `organizationInvitation.created|accepted|revoked`.
    Members(MembersEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembersEvent {
    Membership,
    Invitation,
}

impl Topic {
    pub fn parse(event_type: &str) -> Option<Self> {
        if let Some(kind) = UserEvent::parse(event_type) {
            return Some(Topic::User(kind));
        }
        match event_type {
            "organization.created" => Some(Topic::Organization(UserEvent::Created)),
            "organization.updated" => Some(Topic::Organization(UserEvent::Updated)),
            "organization.deleted" => Some(Topic::Organization(UserEvent::Deleted)),
            "organizationMembership.created"
            | "organizationMembership.updated"
            | "organizationMembership.deleted" => Some(Topic::Members(MembersEvent::Membership)),
            "organizationInvitation.created"
            | "organizationInvitation.accepted"
            | "organizationInvitation.revoked" => Some(Topic::Members(MembersEvent::Invitation)),
            _ => None,
        }
    }
}

/// A Clerk organization object (`organization.deleted` carries only `id`).
#[derive(Debug, Deserialize)]
pub struct ClerkOrganization {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

impl ClerkOrganization {
    /// The customer's name is the organization's; an organization has no email of its own.
    pub fn profile(&self) -> CustomerProfile {
        CustomerProfile {
            email: None,
            name: self
                .name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
        }
    }
}

/// The organization a membership (`organization: {id, …}`) or an invitation (`organization_id`) belongs to.
#[derive(Debug, Deserialize)]
pub struct MembersOf {
    #[serde(default)]
    organization: Option<OrganizationRef>,
    #[serde(default)]
    organization_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OrganizationRef {
    id: String,
}

impl MembersOf {
    pub fn organization_id(&self) -> Option<&str> {
        self.organization
            .as_ref()
            .map(|o| o.id.as_str())
            .or(self.organization_id.as_deref())
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
