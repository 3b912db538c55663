//! Routes by the last path segment, whatever the prefix (stage, function URL, `cargo lambda watch`):
//! `POST …/checkout`, `POST …/portal`, `GET …/entitlements`, `GET …/usage`,
//! `POST …/subscription/{cancel,resume,change}`, and the public `GET …/plans`. Authentication, body limits and the JSON error shape are
//! decided here; the route modules get a verified user and a parsed body.
use crate::billing_api::caller::Caller;
use crate::billing_api::deps::Deps;
use crate::billing_api::{
    checkout, cors, entitlements, idempotency, plans, portal, subscription, usage,
};
use crate::usage_api::request::query_time;
use entitle_core::api_error::ApiError;
use entitle_core::auth::token_from;
use entitle_core::edge;
use entitle_domain::ids::SubjectId;
use entitle_domain::lifecycle::Intent;
use entitle_domain::time::UnixTime;
use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde::de::DeserializeOwned;
use tracing::Instrument;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(handle_at(deps, &request, UnixTime::now()).await)
}

#[derive(Clone, Copy)]
enum Route {
    Checkout,
    Portal,
    Entitlements,
    Usage,
    Cancel,
    Resume,
    Change,
    /// The subject's entitlement versions (a billing page's timeline).
    History,
    /// Public: no session token.
    Plans,
}

impl Route {
    /// Routes that change the subject's billing: for an organization, only a billing manager may.
    fn changes_billing(self) -> bool {
        matches!(
            self,
            Route::Checkout | Route::Portal | Route::Cancel | Route::Resume | Route::Change
        )
    }

    fn of(request: &Request) -> Option<Self> {
        [
            Route::Checkout,
            Route::Portal,
            Route::History,
            Route::Entitlements,
            Route::Usage,
            Route::Cancel,
            Route::Resume,
            Route::Change,
            Route::Plans,
        ]
        .into_iter()
        .find(|route| edge::route_is(request, route.name()))
    }

    /// The route's path: part of a client key's fingerprint.
    fn name(self) -> &'static str {
        match self {
            Route::Checkout => "/checkout",
            Route::Portal => "/portal",
            Route::Entitlements => "/entitlements",
            Route::Usage => "/usage",
            Route::Cancel => "/subscription/cancel",
            Route::Resume => "/subscription/resume",
            Route::Change => "/subscription/change",
            Route::Plans => "/plans",
            Route::History => "/entitlements/history",
        }
    }

    fn method(self) -> Method {
        match self {
            Route::Entitlements | Route::Usage | Route::Plans | Route::History => Method::GET,
            _ => Method::POST,
        }
    }
}

/// The handler with the clock injected.
pub async fn handle_at(deps: &Deps, request: &Request, now: UnixTime) -> Response<Body> {
    let route = Route::of(request);
    if request.method() == Method::OPTIONS && route.is_some() {
        return cors::preflight(request, &deps.config.cors_origins);
    }
    let mut response = match route {
        None => edge::error(&ApiError::not_found("not_found", "no such route")),
        Some(route) if request.method() != route.method() => {
            let mut response = edge::error(&ApiError::method_not_allowed(format!(
                "use {}",
                route.method()
            )));
            let allow = HeaderValue::from_str(route.method().as_str()).expect("a method name");
            response.headers_mut().insert(header::ALLOW, allow);
            response
        }
        Some(Route::Plans) => plans::respond(deps, request),
        Some(route) => dispatch(deps, request, route, now).await,
    };
    cors::decorate(request, &deps.config.cors_origins, &mut response);
    response
}

async fn dispatch(deps: &Deps, request: &Request, route: Route, now: UnixTime) -> Response<Body> {
    let caller = match authenticate(deps, request, now).await {
        Ok(caller) => caller,
        Err(error) => return edge::error(&error),
    };
    let user = caller.subject();
    let span = tracing::info_span!("request", user_id = %caller.user, subject = %user);
    async {
        if route.changes_billing() {
            if let Err(error) = caller.may_manage_billing(deps).await {
                return edge::error(&error);
            }
        }
        if matches!(route, Route::Usage) {
            // Acting for an organization, the caller's own use of each limit their plan caps per member.
            let member = caller.org.as_ref().map(|_| &caller.user);
            return respond(json(usage::read(deps, &user, member, now).await));
        }
        let client_key = request
            .headers()
            .get("idempotency-key")
            .filter(|_| route.method() == Method::POST);
        let Some(raw) = client_key else {
            return respond(Box::pin(run(deps, request, route, &user, Intent::Derived, now)).await);
        };
        let scope = caller.idempotency_scope();
        match remembered(deps, request, route, (&user, &scope), raw, now).await {
            Ok(answer) => {
                let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
                if status.is_server_error() {
                    entitle_core::metrics::count("ServerErrors", 1);
                }
                edge::json(status, answer.body)
            }
            Err(error) => edge::error(&error),
        }
    }
    .instrument(span)
    .await
}

fn respond(result: Result<serde_json::Value, ApiError>) -> Response<Body> {
    match result {
        Ok(body) => edge::json(StatusCode::OK, body.to_string()),
        Err(error) => edge::error(&error),
    }
}

/// A POST under the client's `Idempotency-Key`: the first answer again, or run and kept.
async fn remembered(
    deps: &Deps,
    request: &Request,
    route: Route,
    (user, scope): (&SubjectId, &str),
    raw: &HeaderValue,
    now: UnixTime,
) -> Result<idempotency::Answer, ApiError> {
    let key = idempotency::parse(raw.as_bytes())?;
    let (record_key, fingerprint) =
        idempotency::slot(scope, key, route.name(), request.body().as_ref());
    if let Some(first) = idempotency::prior(deps.usage.as_ref(), &record_key, &fingerprint).await? {
        return Ok(first);
    }
    let intent = Intent::Client { user: scope, key };
    // Boxed, like the route's run above: a route's future is deep (Stripe, the stores), and boxing it here
    // keeps every caller's future within the compiler's type-depth limit.
    let answer = match Box::pin(run(deps, request, route, user, intent, now)).await {
        Ok(body) => idempotency::Answer {
            status: 200,
            body: body.to_string(),
        },
        Err(error) => idempotency::Answer {
            status: error.status,
            body: error.to_json(),
        },
    };
    idempotency::remember(
        deps.usage.as_ref(),
        user,
        (&record_key, &fingerprint),
        answer,
        now,
    )
    .await
}

async fn run(
    deps: &Deps,
    request: &Request,
    route: Route,
    user: &SubjectId,
    intent: Intent<'_>,
    now: UnixTime,
) -> Result<serde_json::Value, ApiError> {
    match route {
        Route::Checkout => json(checkout::create(deps, user, body(request)?, now).await),
        Route::Portal => json(portal::create(deps, user, body(request)?, now).await),
        Route::Entitlements => json(
            entitlements::read(deps, user, now)
                .await
                .map(|e| deps.catalog.with_words(e)),
        ),
        Route::Usage => json(usage::read(deps, user, None, now).await),
        Route::History => {
            let query = request.uri().query();
            let from = query_time(query, "from")?.unwrap_or(UnixTime::from_secs(0));
            let to = query_time(query, "to")?.unwrap_or(now);
            json(crate::history::history(deps.history.as_ref(), user, from, to).await)
        }
        Route::Cancel => {
            json(subscription::cancel(deps, user, body_or_default(request)?, intent, now).await)
        }
        Route::Resume => {
            json(subscription::resume(deps, user, body_or_default(request)?, intent, now).await)
        }
        Route::Change => json(subscription::change(deps, user, body(request)?, intent, now).await),
        Route::Plans => unreachable!("answered without a session"),
    }
}

/// A typed answer as the JSON value the idempotency record keeps.
fn json<T: serde::Serialize>(answer: Result<T, ApiError>) -> Result<serde_json::Value, ApiError> {
    answer.map(|body| serde_json::to_value(body).expect("an answer is plain data"))
}

async fn authenticate(deps: &Deps, request: &Request, now: UnixTime) -> Result<Caller, ApiError> {
    let token = token_from(
        edge::header(request, "authorization"),
        edge::header(request, "cookie"),
    );
    let Some(token) = token else {
        tracing::info!(reason = "missing", "unauthenticated request");
        return Err(ApiError::unauthorized("sign in first"));
    };
    match deps.verifier.verify(token, now).await {
        Ok(claims) => Ok(Caller {
            user: claims.sub,
            org: claims.org,
        }),
        Err(error) if error.is_unavailable() => {
            tracing::error!(error = %error, "the signing keys could not be fetched");
            Err(ApiError::unavailable())
        }
        Err(error) => {
            // The reason is for us, not for whoever holds the token.
            tracing::info!(reason = error.reason(), "rejected a session token");
            Err(ApiError::unauthorized("invalid or expired session"))
        }
    }
}

/// Like [`body`], but an empty body is the default one.
fn body_or_default<T: DeserializeOwned + Default>(request: &Request) -> Result<T, ApiError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    body(request)
}

fn body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large("the body exceeds 64 KiB"));
    }
    // Every body is a JSON object: serde's derived structs would also take an array of their fields in order
    // (`[true]` for `{"atPeriodEnd": true}`), which the document does not allow.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_request(
            "malformed_body",
            "the body must be a JSON object",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("malformed_body", format!("invalid JSON body: {e}")))
}
