//! The catalog's objects in Stripe, for `entitle catalog plan|apply`: products and prices through
//! async-stripe's typed requests, Stripe Entitlements features (no async-stripe crate in our set has them)
//! through its generic `RequestBuilder`; every answer read into the few fields the sync compares, over the
//! same transport and error rule as the functions' calls. Every write carries an idempotency key derived
//! from the change, so an `apply` retried after a failure creates nothing twice.
use super::client::{idempotent, path_segment, Listed, StripeClient};
use super::objects::expandable_id;
use entitle_domain::catalog_sync::{
    Action, Remote, RemoteFeature, RemoteMeter, RemotePrice, RemoteProduct, METADATA_KEY,
    OVERAGE_METADATA_KEY,
};
use entitle_domain::plans::Interval;
use entitle_domain::ports::StripeError;
use miniserde::json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use stripe_client_core::{RequestBuilder, StripeMethod, StripeRequest};
use stripe_product::price::{
    CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval, ListPrice, UpdatePrice,
};
use stripe_product::product::{CreateProduct, ListProduct, UpdateProduct};

const PAGE: i64 = 100;

#[derive(miniserde::Deserialize)]
struct ProductView {
    id: String,
    name: String,
    active: bool,
    metadata: Option<BTreeMap<String, String>>,
}

#[derive(miniserde::Deserialize)]
struct RecurringView {
    interval: String,
    meter: Option<String>,
}

#[derive(miniserde::Deserialize)]
struct TransformQuantityView {
    divide_by: i64,
}

#[derive(miniserde::Deserialize)]
struct MeterView {
    id: String,
    event_name: String,
    display_name: String,
    status: String,
}

#[derive(miniserde::Deserialize)]
struct PriceView {
    id: String,
    /// An id, or the product when expanded.
    product: Value,
    active: bool,
    lookup_key: Option<String>,
    unit_amount: Option<i64>,
    currency: String,
    recurring: Option<RecurringView>,
    transform_quantity: Option<TransformQuantityView>,
    metadata: Option<BTreeMap<String, String>>,
}

#[derive(miniserde::Deserialize)]
struct FeatureView {
    id: String,
    lookup_key: String,
    name: String,
    active: bool,
    metadata: Option<BTreeMap<String, String>>,
}

#[derive(miniserde::Deserialize)]
struct AttachmentView {
    id: String,
    entitlement_feature: FeatureView,
}

#[derive(miniserde::Deserialize)]
struct Created {
    id: String,
}

fn interval(name: &str) -> Option<Interval> {
    match name {
        "day" => Some(Interval::Day),
        "week" => Some(Interval::Week),
        "month" => Some(Interval::Month),
        "year" => Some(Interval::Year),
        _ => None,
    }
}

fn entitle(metadata: &Option<BTreeMap<String, String>>) -> Option<String> {
    metadata.as_ref()?.get(METADATA_KEY).cloned()
}

fn marked(owner: &str) -> HashMap<String, String> {
    HashMap::from([(METADATA_KEY.to_owned(), owner.to_owned())])
}

/// `entitle-catalog-<hash of the change>`: the same change retried is the same Stripe write.
fn key(action: &Action) -> String {
    let text = serde_json::to_string(action).unwrap_or_default();
    let hash = Sha256::digest(text.as_bytes());
    format!("entitle-catalog-{}", &hex::encode(hash)[..32])
}

pub(crate) fn form(method: StripeMethod, path: &str, params: &[(&str, &str)]) -> RequestBuilder {
    let mut request = RequestBuilder::new(method, path);
    if !params.is_empty() {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        match method {
            StripeMethod::Get => request.query = Some(body),
            _ => request.body = Some(body),
        }
    }
    request
}

/// A `GET` of a list's page of 100 after the item `after`.
fn page(path: &str, after: Option<&str>) -> RequestBuilder {
    let mut params = vec![("limit", "100")];
    if let Some(after) = after {
        params.push(("starting_after", after));
    }
    form(StripeMethod::Get, path, &params)
}

fn remote_price(price: PriceView) -> RemotePrice {
    let product = expandable_id(&price.product).unwrap_or_default().to_owned();
    RemotePrice {
        entitle: entitle(&price.metadata),
        id: price.id,
        product,
        active: price.active,
        lookup_key: price.lookup_key,
        unit_amount: price.unit_amount,
        currency: price.currency,
        interval: price.recurring.as_ref().and_then(|r| interval(&r.interval)),
        meter: price.recurring.as_ref().and_then(|r| r.meter.clone()),
        divide_by: price
            .transform_quantity
            .as_ref()
            .and_then(|t| u64::try_from(t.divide_by).ok()),
    }
}

macro_rules! listed {
    ($($view:ty),*) => {
        $(impl Listed for $view {
            fn id(&self) -> &str {
                &self.id
            }
        })*
    };
}
listed!(
    ProductView,
    PriceView,
    FeatureView,
    MeterView,
    AttachmentView
);

fn unmatched(what: String) -> StripeError {
    StripeError::Rejected {
        status: 0,
        code: "catalog_sync".into(),
        message: what,
    }
}

impl StripeClient {
    /// Every product, price and Entitlements feature of the account (archived ones too), following pages.
    pub async fn catalog_remote(&self) -> Result<Remote, StripeError> {
        let mut remote = Remote::default();
        let products: Vec<ProductView> = self
            .list_all(|after| {
                let mut list = ListProduct::new().limit(PAGE);
                if let Some(after) = after {
                    list = list.starting_after(after.to_owned());
                }
                list.build()
            })
            .await?;
        for product in products {
            let features = self.attachments(&product.id).await?;
            remote.products.push(RemoteProduct {
                entitle: entitle(&product.metadata),
                id: product.id,
                name: product.name,
                active: product.active,
                features,
            });
        }
        let prices: Vec<PriceView> = self
            .list_all(|after| {
                let mut list = ListPrice::new().limit(PAGE);
                if let Some(after) = after {
                    list = list.starting_after(after.to_owned());
                }
                list.build()
            })
            .await?;
        remote.prices = prices.into_iter().map(remote_price).collect();
        let features: Vec<FeatureView> = self
            .list_all(|after| page("/entitlements/features", after))
            .await?;
        remote.features = features
            .into_iter()
            .map(|f| RemoteFeature {
                entitle: entitle(&f.metadata).is_some(),
                id: f.id,
                lookup_key: f.lookup_key,
                name: f.name,
                active: f.active,
            })
            .collect();
        let meters: Vec<MeterView> = self
            .list_all(|after| page("/billing/meters", after))
            .await?;
        remote.meters = meters
            .into_iter()
            .map(|m| RemoteMeter {
                active: m.status == "active",
                id: m.id,
                event_name: m.event_name,
                display_name: m.display_name,
            })
            .collect();
        Ok(remote)
    }

    async fn attachments(&self, product: &str) -> Result<Vec<(String, String)>, StripeError> {
        let path = format!("/products/{}/features", path_segment(product));
        let attachments: Vec<AttachmentView> = self.list_all(|after| page(&path, after)).await?;
        Ok(attachments
            .into_iter()
            .map(|a| (a.id, a.entitlement_feature.lookup_key))
            .collect())
    }

    /// Makes one change. `products` (catalog id → product id), `features` (lookup key → feature id) and
    /// `meters` (event name → meter id) start from [`Remote`] and learn the objects this apply creates.
    pub async fn apply_catalog_action(
        &self,
        action: &Action,
        products: &mut BTreeMap<String, String>,
        features: &mut BTreeMap<String, String>,
        meters: &mut BTreeMap<String, String>,
    ) -> Result<(), StripeError> {
        let key = key(action);
        match action {
            Action::CreateFeature { lookup_key, name } => {
                let request = form(
                    StripeMethod::Post,
                    "/entitlements/features",
                    &[
                        ("lookup_key", lookup_key),
                        ("name", name),
                        ("metadata[entitle]", lookup_key),
                    ],
                );
                let created: Created = idempotent(request.customize(), &key)?.send(self).await?;
                features.insert(lookup_key.clone(), created.id);
            }
            Action::ReactivateFeature { id, .. } => {
                let path = format!("/entitlements/features/{}", path_segment(id));
                let request = form(StripeMethod::Post, &path, &[("active", "true")]);
                let _: Created = idempotent(request.customize(), &key)?.send(self).await?;
            }
            Action::ArchiveFeature { id, .. } => {
                let path = format!("/entitlements/features/{}", path_segment(id));
                let request = form(StripeMethod::Post, &path, &[("active", "false")]);
                let _: Created = idempotent(request.customize(), &key)?.send(self).await?;
            }
            Action::CreateProduct { owner, name } => {
                let request = CreateProduct::new(name.clone())
                    .metadata(marked(owner))
                    .build();
                let created: Created = idempotent(request.customize(), &key)?.send(self).await?;
                products.insert(owner.clone(), created.id);
            }
            Action::UpdateProduct {
                id,
                name,
                reactivate,
                owner,
            } => {
                let mut request = UpdateProduct::new(path_segment(id)).name(name.clone());
                if *reactivate {
                    request = request.active(true);
                }
                let _: Created = idempotent(request.build().customize(), &key)?
                    .send(self)
                    .await?;
                products.insert(owner.clone(), id.clone());
            }
            Action::ArchiveProduct { id, .. } => {
                let request = UpdateProduct::new(path_segment(id)).active(false).build();
                let _: Created = idempotent(request.customize(), &key)?.send(self).await?;
            }
            Action::CreatePrice {
                owner,
                lookup_key,
                amount,
                currency,
                interval,
                ..
            } => {
                let product = products
                    .get(owner)
                    .ok_or_else(|| unmatched(format!("no product for {owner}")))?;
                let currency: stripe_types::Currency =
                    currency.parse().unwrap_or(stripe_types::Currency::USD);
                let mut request = CreatePrice::new(currency)
                    .product(product.clone())
                    .unit_amount(*amount)
                    .lookup_key(lookup_key.clone())
                    // The key may be held by the price this one replaces, or by an archived one.
                    .transfer_lookup_key(true)
                    .metadata(marked(owner));
                if let Some(interval) = interval {
                    request = request.recurring(CreatePriceRecurring::new(match interval {
                        Interval::Day => CreatePriceRecurringInterval::Day,
                        Interval::Week => CreatePriceRecurringInterval::Week,
                        Interval::Month => CreatePriceRecurringInterval::Month,
                        Interval::Year => CreatePriceRecurringInterval::Year,
                    }));
                }
                let _: Created = idempotent(request.build().customize(), &key)?
                    .send(self)
                    .await?;
            }
            Action::ArchivePrice { id, .. } => {
                let request = UpdatePrice::new(path_segment(id)).active(false).build();
                let _: Created = idempotent(request.customize(), &key)?.send(self).await?;
            }
            Action::AttachFeature { owner, feature } => {
                let product = products
                    .get(owner)
                    .ok_or_else(|| unmatched(format!("no product for {owner}")))?;
                let feature_id = features
                    .get(feature)
                    .ok_or_else(|| unmatched(format!("no Entitlements feature {feature}")))?;
                let path = format!("/products/{}/features", path_segment(product));
                let request = form(
                    StripeMethod::Post,
                    &path,
                    &[("entitlement_feature", feature_id)],
                );
                let _: Created = idempotent(request.customize(), &key)?.send(self).await?;
            }
            Action::DetachFeature {
                product,
                attachment,
                ..
            } => {
                let path = format!(
                    "/products/{}/features/{}",
                    path_segment(product),
                    path_segment(attachment)
                );
                let request = form(StripeMethod::Delete, &path, &[]);
                let _: Created = idempotent(request.customize(), &key)?.send(self).await?;
            }
            Action::CreateMeter {
                event_name,
                display_name,
            } => {
                let request = form(
                    StripeMethod::Post,
                    "/billing/meters",
                    &[
                        ("display_name", display_name),
                        ("event_name", event_name),
                        ("default_aggregation[formula]", "sum"),
                        ("customer_mapping[event_payload_key]", "stripe_customer_id"),
                        ("customer_mapping[type]", "by_id"),
                        ("value_settings[event_payload_key]", "value"),
                    ],
                );
                let created: Created = idempotent(request.customize(), &key)?.send(self).await?;
                meters.insert(event_name.clone(), created.id);
            }
            Action::ReactivateMeter { id, event_name } => {
                let path = format!("/billing/meters/{}/reactivate", path_segment(id));
                let request = form(StripeMethod::Post, &path, &[]);
                let _: Created = idempotent(request.customize(), &key)?.send(self).await?;
                meters.insert(event_name.clone(), id.clone());
            }
            Action::DeactivateMeter { id, .. } => {
                let path = format!("/billing/meters/{}/deactivate", path_segment(id));
                let request = form(StripeMethod::Post, &path, &[]);
                let _: Created = idempotent(request.customize(), &key)?.send(self).await?;
            }
            Action::CreateMeteredPrice {
                owner,
                limit,
                event_name,
                lookup_key,
                unit_amount,
                per,
                currency,
                interval,
                ..
            } => {
                let product = products
                    .get(owner)
                    .ok_or_else(|| unmatched(format!("no product for {owner}")))?;
                let meter = meters
                    .get(event_name)
                    .ok_or_else(|| unmatched(format!("no billing meter {event_name}")))?;
                let unit_amount = unit_amount.to_string();
                let per = per.to_string();
                let marked_limit = format!("metadata[{OVERAGE_METADATA_KEY}]");
                let mut params = vec![
                    ("product", product.as_str()),
                    ("currency", currency.as_str()),
                    ("unit_amount", &unit_amount),
                    ("recurring[interval]", interval.as_str()),
                    ("recurring[usage_type]", "metered"),
                    ("recurring[meter]", meter.as_str()),
                    ("lookup_key", lookup_key.as_str()),
                    // The key may be held by the price this one replaces, or by an archived one.
                    ("transfer_lookup_key", "true"),
                    ("metadata[entitle]", owner.as_str()),
                    (marked_limit.as_str(), limit.as_str()),
                ];
                if per != "1" {
                    params.push(("transform_quantity[divide_by]", &per));
                    params.push(("transform_quantity[round]", "up"));
                }
                let request = form(StripeMethod::Post, "/prices", &params);
                let _: Created = idempotent(request.customize(), &key)?.send(self).await?;
            }
        }
        Ok(())
    }
}
