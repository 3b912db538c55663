//! What Stripe holds now, as the sync reads it.
use crate::plans::Interval;

/// A Stripe product as the sync reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteProduct {
    pub id: String,
    pub name: String,
    pub active: bool,
    /// `metadata.entitle`.
    pub entitle: Option<String>,
    /// The Entitlements features attached to it: `(attachment id, feature lookup key)`.
    pub features: Vec<(String, String)>,
}

/// A Stripe price as the sync reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePrice {
    pub id: String,
    pub product: String,
    pub active: bool,
    pub lookup_key: Option<String>,
    pub unit_amount: Option<i64>,
    pub currency: String,
    pub interval: Option<Interval>,
    pub entitle: Option<String>,
    /// `recurring.meter`: the billing meter of a metered price.
    pub meter: Option<String>,
    /// `transform_quantity.divide_by`.
    pub divide_by: Option<u64>,
}

/// A Stripe billing meter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMeter {
    pub id: String,
    pub event_name: String,
    pub display_name: String,
    /// `status == "active"`.
    pub active: bool,
}

/// A Stripe Entitlements feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFeature {
    pub id: String,
    pub lookup_key: String,
    pub name: String,
    pub active: bool,
    pub entitle: bool,
}

/// What Stripe holds now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remote {
    pub products: Vec<RemoteProduct>,
    pub prices: Vec<RemotePrice>,
    pub features: Vec<RemoteFeature>,
    pub meters: Vec<RemoteMeter>,
}
