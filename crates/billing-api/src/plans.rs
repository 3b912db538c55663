//! `GET /plans`: the catalog as a pricing page needs it — plans (name, features, limits, prices), add-ons,
//! credit packs and what each limit is. Public (no session token), cacheable: `Cache-Control` and an `ETag`
//! (a hash of the body), and `If-None-Match` answers `304 Not Modified`.
use crate::deps::Deps;
use entitle_domain::plans::{CatalogPrice, PlanCatalog};
use entitle_domain::usage::{LimitKind, Period};
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// Browsers and CDNs may keep it five minutes; a catalog change reaches pricing pages within that.
const CACHE_CONTROL: &str = "public, max-age=300";

fn price(p: &CatalogPrice) -> Value {
    json!({
        "id": p.id,
        "lookupKey": p.lookup_key,
        "amount": p.amount,
        "currency": p.currency,
        "interval": p.interval,
        "trialDays": p.trial_days,
    })
}

/// The document: the same for every caller, so one ETag serves all.
pub fn document(catalog: &PlanCatalog) -> Value {
    let plans: Vec<Value> = catalog
        .plans()
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "name": p.name,
                "default": p.default,
                "contactSales": p.contact_sales,
                "addon": p.addon,
                "rank": p.rank,
                "features": p.features,
                "limits": p.limits,
                "prices": p.prices.iter().map(price).collect::<Vec<_>>(),
            })
        })
        .collect();
    let packs: Vec<Value> = catalog
        .credit_packs()
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "name": p.name,
                "credits": p.credits,
                "maxQuantity": p.max_quantity,
                "prices": p.prices.iter().map(price).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut limits = Map::new();
    for (name, decl) in catalog.limit_decls() {
        let resets = match decl.kind {
            LimitKind::Metered(Period::Day) => json!("day"),
            LimitKind::Metered(Period::Month) => json!("month"),
            LimitKind::Metered(Period::BillingPeriod) => json!("billing_period"),
            _ => Value::Null,
        };
        limits.insert(
            name.clone(),
            json!({"kind": decl.kind.as_str(), "resets": resets, "lowThreshold": decl.low_threshold}),
        );
    }
    json!({"plans": plans, "creditPacks": packs, "limits": limits})
}

pub fn respond(deps: &Deps, request: &Request) -> Response<Body> {
    let body = document(&deps.catalog).to_string();
    let etag = format!(
        "\"{}\"",
        &hex::encode(Sha256::digest(body.as_bytes()))[..32]
    );
    let fresh = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == etag || t == "*")
        });
    let mut response = if fresh {
        Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::Empty)
            .expect("static parts are valid")
    } else {
        entitle_core::edge::json(StatusCode::OK, body)
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex is a valid header value"),
    );
    response
}
