//! The words an entitlements answer carries beside its identifiers: the display name of each feature it
//! grants and the name and unit of each limit it sets, from the catalog's `[features]` and `[limits]`.
//! Descriptions stay in `GET /plans` (public and cached), so a per-request answer grows by a few names only.
use serde::Serialize;
use std::collections::BTreeMap;

use super::model::{PlanCatalog, Unit};
use crate::entitlements::Entitlements;

/// `EntitlementWords`: names by feature id, names and units by limit name — only for what the answer
/// grants, and only those the catalog describes (a catalog without words yields empty maps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct EntitlementWords<'a> {
    pub features: BTreeMap<&'a str, &'a str>,
    pub limits: BTreeMap<&'a str, LimitName<'a>>,
}

/// A limit's display name and unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitName<'a> {
    pub name: &'a str,
    pub unit: &'a Unit,
}

/// An entitlements answer: the entitlements, and (`words`) what a page shows for them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WithWords<'a> {
    #[serde(flatten)]
    pub entitlements: Entitlements,
    pub words: EntitlementWords<'a>,
}

impl PlanCatalog {
    /// The words for `features` and `limits` (an answer's own).
    pub fn words_for<'a>(
        &'a self,
        features: impl IntoIterator<Item = &'a str>,
        limits: impl IntoIterator<Item = &'a str>,
    ) -> EntitlementWords<'a> {
        EntitlementWords {
            features: features
                .into_iter()
                .filter_map(|f| Some((f, self.features.get(f)?.name.as_str())))
                .collect(),
            limits: limits
                .into_iter()
                .filter_map(|l| {
                    let w = self.limit_words.get(l)?;
                    Some((
                        l,
                        LimitName {
                            name: &w.name,
                            unit: &w.unit,
                        },
                    ))
                })
                .collect(),
        }
    }

    /// `entitlements` with the words of what they grant: the limits they set and, when the catalog
    /// declares one, the credits balance they carry.
    pub fn with_words(&self, entitlements: Entitlements) -> WithWords<'_> {
        let features: Vec<&str> = entitlements
            .features
            .iter()
            .filter_map(|f| Some(self.features.get_key_value(f.as_str())?.0.as_str()))
            .collect();
        let limits: Vec<&str> = entitlements
            .limits
            .keys()
            .filter_map(|l| Some(self.limit_words.get_key_value(l.as_str())?.0.as_str()))
            .chain(self.credits_limit())
            .collect();
        let words = self.words_for(features, limits);
        WithWords {
            entitlements,
            words,
        }
    }
}
