//! `GET /plans`: the catalog as a pricing page needs it — plans (name, features, limits, prices), add-ons,
//! credit packs, what each limit is, and the words a page shows for features and limits. Public (no
//! session token), cacheable: `Cache-Control` and an `ETag` (a hash of the body), and `If-None-Match`
//! answers `304 Not Modified`.
use crate::billing_api::answer::{
    FeatureEntry, LimitEntry, PackEntry, PlanEntry, Plans, PriceEntry, SeatsEntry,
};
use crate::billing_api::deps::Deps;
use entitle_domain::plans::{CatalogPrice, PlanCatalog};
use entitle_domain::usage::LimitKind;
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

/// Browsers and CDNs may keep it five minutes; a catalog change reaches pricing pages within that.
const CACHE_CONTROL: &str = "public, max-age=300";

fn price(p: &CatalogPrice) -> PriceEntry<'_> {
    PriceEntry {
        amount: p.amount,
        currency: p.currency.as_deref(),
        id: p.id.as_deref(),
        interval: p.interval,
        lookup_key: p.lookup_key.as_deref(),
        trial_days: p.trial_days,
    }
}

/// The document: the same for every caller, so one ETag serves all.
pub fn document(catalog: &PlanCatalog) -> Plans<'_> {
    let plans = catalog
        .plans()
        .iter()
        .map(|p| PlanEntry {
            addon: p.addon,
            contact_sales: p.contact_sales,
            default: p.default,
            features: &p.features,
            audience: p.audience,
            id: &p.id,
            limits: &p.limits,
            member_limits: &p.member_limits,
            name: &p.name,
            prices: p.prices.iter().map(price).collect(),
            rank: p.rank,
            seats: p.seats.as_ref().map(|s| SeatsEntry {
                count_invitations: s.count_invitations,
                included: s.included,
                prices: s.prices.iter().map(price).collect(),
            }),
        })
        .collect();
    let credit_packs = catalog
        .credit_packs()
        .iter()
        .map(|p| PackEntry {
            credits: p.credits,
            id: &p.id,
            max_quantity: p.max_quantity,
            name: &p.name,
            prices: p.prices.iter().map(price).collect(),
        })
        .collect();
    let limits = catalog
        .limit_decls()
        .iter()
        .map(|(name, decl)| {
            let resets = match decl.kind {
                LimitKind::Metered(period) => Some(period),
                _ => None,
            };
            let words = catalog.limit_words().get(name);
            let entry = LimitEntry {
                kind: decl.kind.as_str(),
                low_threshold: decl.low_threshold,
                name: words.map(|w| w.name.as_str()),
                resets,
                unit: words.map(|w| &w.unit),
            };
            (name.as_str(), entry)
        })
        .collect();
    let features = catalog
        .feature_words()
        .iter()
        .map(|(id, w)| {
            let entry = FeatureEntry {
                description: &w.description,
                name: &w.name,
            };
            (id.as_str(), entry)
        })
        .collect();
    Plans {
        credit_packs,
        features,
        limits,
        plans,
    }
}

pub fn respond(deps: &Deps, request: &Request) -> Response<Body> {
    let body = serde_json::to_string(&document(&deps.catalog)).expect("the catalog is plain data");
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
