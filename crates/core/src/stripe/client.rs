//! `StripeClient`: the production Stripe API client behind `StripeCustomers` and `StripeSubscriptions` (and,
//! in the sibling modules, `StripeReader` and `StripeBilling`).
//!
//! Requests are async-stripe 1.0's typed ones (`stripe_core`, `stripe_billing`, …); their answers are parsed
//! into the few fields we read ([`objects`](super::objects)). This module is only their transport: it implements async-stripe's `StripeClient` trait over the hyper 1 + rustls
//! (aws-lc) client the AWS SDK already links. Not async-stripe's own hyper client, because that one drops
//! what our retry rule needs: the status of an error answer that is not Stripe's JSON (a proxy's 502 page
//! must be retried, a 403 page must not), the `Request-Id`, and our User-Agent; and it keeps no connection
//! pool, so every call would pay a new TLS handshake.
//!
//! The HTTP client is built on the first request rather than in `new`, so the invocations that never call
//! Stripe pay nothing for it at init (its roots are compiled in: no certificate file is read).
use super::objects::{ended, List, Object, Subscription};
use crate::adapters::classify::{self, Class, Conflict};
pub use crate::adapters::http::path_segment;
use crate::adapters::http::{
    bearer, body_excerpt, with_key_refresh, Exchange, HttpClient, LazyClient, NoAnswer,
    RateLimitRetries,
};
use crate::secrets::Rotating;
use async_trait::async_trait;
use entitle_domain::ids::{StripeCustomerId, SubjectId};
use entitle_domain::ports::{CustomerProfile, StripeCustomers, StripeError, StripeSubscriptions};
use http::header::CONTENT_TYPE;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::fmt::Write as _;
use std::time::Duration;
use stripe_billing::subscription::{CancelSubscription, RetrieveSubscription, UpdateSubscription};
use stripe_client_core::{
    CustomizableStripeRequest, CustomizedStripeRequest, IdempotencyKey, RequestBuilder,
    RequestStrategy, StripeClientErr, StripeMethod, StripeRequest,
};
use stripe_core::customer::{CreateCustomer, UpdateCustomer};

/// The API version async-stripe's types are generated for (a unit test keeps the two equal): sending it
/// pins the shapes we parse, whatever the account's default version in the dashboard. Moving it is an
/// async-stripe upgrade, tested against the new shapes.
pub const STRIPE_VERSION: &str = "2026-09-30.endive";

/// Total time for one request, connection included. Well under the functions' Lambda timeouts, so a
/// hanging Stripe ends as a retryable error rather than a killed invocation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Stripe's largest page.
const PAGE_LIMIT: &str = "100";

/// How often a 409 is retried (after 200, 400 and 800 ms).
const CONFLICT_RETRIES: u32 = 3;

/// Stripe's API over one lazily built HTTP client. Errors (the shared rule of [`classify`]): connection
/// failures, timeouts, 5xx, 429 (after two retries with exponential backoff, ≤ 2 s each) and 409 are
/// [`StripeError::Unavailable`] (retry under the same idempotency
/// key); other 4xx are [`StripeError::Rejected`] with Stripe's `code` (its `type` when there is none), and a
/// request that could not even be built (a bad base URL or header value) is `Rejected` with status 0. No
/// error carries the key.
pub struct StripeClient {
    base: String,
    /// Re-read per TTL, and once (rate-limited) when Stripe answers 401: a rolled key needs no redeploy.
    key: Rotating<SecretString>,
    timeout: Duration,
    http: LazyClient,
}

impl StripeClient {
    /// `base`: `https://api.stripe.com` in production (`STRIPE_API_BASE` overrides it; tests point it at a
    /// local fake over plain http). Cheap: nothing is loaded or connected until the first request.
    pub fn new(api_key: impl Into<Rotating<SecretString>>, base: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            key: api_key.into(),
            timeout: DEFAULT_TIMEOUT,
            http: LazyClient::new(),
        }
    }

    /// Replaces [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `POST {path}` (`/v1/…`) with `params` form-encoded (nested keys as Stripe spells them: `metadata[k]`),
    /// for a call async-stripe has no typed request for. Stripe keeps the answer under `idempotency_key` for
    /// 24 hours, so a retry with the same key and the same params has no second effect.
    pub async fn post_form(
        &self,
        path: &str,
        params: &[(&str, String)],
        idempotency_key: &str,
    ) -> Result<Value, StripeError> {
        let mut request = api_request(StripeMethod::Post, path)?;
        request.body = Some(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish(),
        );
        self.json(request, Some(key(idempotency_key)?)).await
    }

    /// `GET {path_and_query}` (`/v1/…`); the caller encodes the query (e.g. with `form_urlencoded`).
    pub async fn get(&self, path_and_query: &str) -> Result<Value, StripeError> {
        let request = api_request(StripeMethod::Get, path_and_query)?;
        self.json(request, None).await
    }

    /// `DELETE {path}` (`/v1/…`).
    pub async fn delete(&self, path: &str, idempotency_key: &str) -> Result<Value, StripeError> {
        let request = api_request(StripeMethod::Delete, path)?;
        self.json(request, Some(key(idempotency_key)?)).await
    }

    async fn json(
        &self,
        request: RequestBuilder,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<Value, StripeError> {
        let what = describe(&request);
        let body = self
            .exchange(request, idempotency_key, self.timeout)
            .await?;
        serde_json::from_slice(&body)
            .map_err(|e| unavailable(Failure::Unexpected(what, 200, e.into())))
    }

    async fn http(&self) -> Result<&HttpClient, StripeError> {
        self.http
            .get()
            .await
            .map_err(|e| unavailable(Failure::Roots(e)))
    }

    /// One request under the total timeout, its answer classified; the body of a 2xx. A 409 — another
    /// request with the same idempotency key still running (a double-click, racing webhooks), or a lock
    /// timeout — is retried a few times after a short pause: the replay then returns the first request's
    /// answer.
    async fn exchange(
        &self,
        request: RequestBuilder,
        idempotency_key: Option<IdempotencyKey>,
        timeout: Duration,
    ) -> Result<Bytes, StripeError> {
        let what = describe(&request);
        let method = match request.method {
            StripeMethod::Get => Method::GET,
            StripeMethod::Post => Method::POST,
            StripeMethod::Delete => Method::DELETE,
        };
        let mut uri = format!("{}/v1{}", self.base, request.path);
        if let Some(query) = request.query.as_deref().filter(|q| !q.is_empty()) {
            let _ = write!(uri, "?{query}");
        }
        // Typed requests without parameters still carry an empty form: send no body then.
        let form = request.body.filter(|body| !body.is_empty());
        let http = self.http().await?;
        let exchange = Exchange {
            api: "Stripe",
            what: &what,
            timeout,
            request_id_header: "request-id",
            max_body_bytes: usize::MAX,
        };
        let mut attempt = 0;
        let mut rate_limited = RateLimitRetries::new("Stripe", "StripeRateLimited");
        loop {
            let answer = with_key_refresh(
                &self.key,
                |e| StripeError::Unavailable(e.into()),
                |api_key| {
                    let request = self.request(
                        method.clone(),
                        &uri,
                        &api_key,
                        form.clone(),
                        idempotency_key.as_ref(),
                    );
                    let exchange = &exchange;
                    let what = &what;
                    async move {
                        let request = request.map_err(|e| StripeError::Rejected {
                            status: 0,
                            code: "invalid_request".to_owned(),
                            message: format!("{what} was not sent: {e}"),
                        })?;
                        let answer = exchange
                            .send(http, request)
                            .await
                            .map_err(|e| unavailable(Failure::NoAnswer(e)))?;
                        tracing::debug!(
                            request = %what,
                            status = answer.status.as_u16(),
                            request_id = answer.request_id.as_deref().unwrap_or(""),
                            "Stripe answered"
                        );
                        Ok((answer.status, answer))
                    }
                },
            )
            .await?;
            if answer.status == StatusCode::CONFLICT && attempt < CONFLICT_RETRIES {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                continue;
            }
            // Rate-limited: Stripe asks for exponential backoff (and keeps no answer under the key, so the
            // retry runs for real, once). A few short waits inside the call, then the caller's own retry.
            if rate_limited.wait_to_retry(&what, &answer).await {
                continue;
            }
            if method != Method::GET && answer.status.is_success() {
                // Test-only (crate::crash): Stripe made the write; its caller has not seen the answer.
                crate::crash::point("stripe_written");
            }
            return self::answer(what, answer.status, answer.request_id, answer.body);
        }
    }

    fn request(
        &self,
        method: Method,
        uri: &str,
        api_key: &SecretString,
        form: Option<String>,
        idempotency_key: Option<&IdempotencyKey>,
    ) -> Result<Request<Full<Bytes>>, http::Error> {
        let mut builder = bearer(method, uri, api_key)?.header("Stripe-Version", STRIPE_VERSION);
        if form.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        if let Some(key) = idempotency_key {
            builder = builder.header("Idempotency-Key", key.as_str());
        }
        builder.body(Full::new(Bytes::from(form.unwrap_or_default())))
    }

    /// Whether the subscription has already ended, so a failed cancel still left it unable to charge.
    /// `false` when it cannot be found either.
    async fn has_ended(&self, subscription_id: &str) -> Result<bool, StripeError> {
        match answer_as::<Subscription>(&RetrieveSubscription::new(path_segment(subscription_id)))
            .send(self)
            .await
            .map_err(StripeError::from)
        {
            Ok(subscription) => Ok(ended(&subscription.status)),
            Err(StripeError::Rejected { .. }) => Ok(false),
            Err(unavailable) => Err(unavailable),
        }
    }
}

/// async-stripe's requests are sent through this: typed in, typed out, under the caller's
/// `RequestStrategy::Idempotent` key and timeout. Other strategies send no key: every write here names its
/// own, and retries are ours (the 409 rule above, and the callers' redeliveries).
impl stripe_client_core::StripeClient for StripeClient {
    type Err = Transport;

    async fn execute(&self, request: CustomizedStripeRequest) -> Result<Bytes, Transport> {
        let (request, config) = request.into_pieces();
        let idempotency_key = match config.request_strategy {
            Some(RequestStrategy::Idempotent(key)) => Some(key),
            _ => None,
        };
        // Boxed: async-stripe's request futures nest deeply, and a caller several layers up (a catalog
        // walk's pager) would otherwise exceed the compiler's type-depth limit.
        let exchange: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>> =
            Box::pin(self.exchange(
                request,
                idempotency_key,
                config.timeout.unwrap_or(self.timeout),
            ));
        exchange.await.map_err(Transport)
    }
}

/// The domain's [`StripeError`] as async-stripe's client error: a local name, because a foreign trait cannot
/// be implemented here for the domain's type. `?` turns it back.
#[derive(Debug)]
pub struct Transport(pub StripeError);

impl From<Transport> for StripeError {
    fn from(transport: Transport) -> Self {
        transport.0
    }
}

/// A 2xx whose body is not the documented object: retryable, by the shared rule.
impl StripeClientErr for Transport {
    fn deserialize_err(message: impl fmt::Display) -> Self {
        Transport(unavailable(Failure::Undecodable(message.to_string())))
    }
}

impl fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeClient")
            .field("base", &self.base)
            .field("key", &"[REDACTED]")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `request`, its answer parsed as our `T` (a [`objects`](super::objects) type) rather than
/// async-stripe's whole object.
pub(crate) fn answer_as<T>(request: &impl StripeRequest) -> CustomizableStripeRequest<T> {
    request.build().customize()
}

/// `request` under `idempotency_key`.
pub(crate) fn idempotent<T>(
    request: CustomizableStripeRequest<T>,
    idempotency_key: &str,
) -> Result<CustomizableStripeRequest<T>, StripeError> {
    Ok(request.request_strategy(RequestStrategy::Idempotent(key(idempotency_key)?)))
}

fn key(idempotency_key: &str) -> Result<IdempotencyKey, StripeError> {
    IdempotencyKey::new(idempotency_key).map_err(|e| StripeError::Rejected {
        status: 0,
        code: "invalid_request".to_owned(),
        message: format!("the idempotency key is unusable: {e}"),
    })
}

/// A generic request for `/v1/…` (async-stripe's paths leave out the version prefix).
fn api_request(method: StripeMethod, path_and_query: &str) -> Result<RequestBuilder, StripeError> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (path_and_query, None),
    };
    let path = path
        .strip_prefix("/v1")
        .filter(|rest| rest.starts_with('/'))
        .ok_or_else(|| StripeError::Rejected {
            status: 0,
            code: "invalid_request".to_owned(),
            message: format!("{path} is not a /v1 API path"),
        })?;
    let mut request = RequestBuilder::new(method, path);
    request.query = query;
    Ok(request)
}

/// `GET /v1/customers/cus_…`, for logs and errors.
fn describe(request: &RequestBuilder) -> String {
    let method = match request.method {
        StripeMethod::Get => "GET",
        StripeMethod::Post => "POST",
        StripeMethod::Delete => "DELETE",
    };
    match request.query.as_deref().filter(|q| !q.is_empty()) {
        Some(query) => format!("{method} /v1{}?{query}", request.path),
        None => format!("{method} /v1{}", request.path),
    }
}

/// Why a request got no usable answer: the `source` of [`StripeError::Unavailable`]. Never holds the key.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("cannot build the HTTPS client")]
    Roots(#[source] std::io::Error),
    #[error(transparent)]
    NoAnswer(NoAnswer),
    #[error("{what}: Stripe answered {status} ({code}): {message} [request {request_id}]")]
    Status {
        what: String,
        status: u16,
        code: String,
        message: String,
        request_id: String,
    },
    #[error("{0}: Stripe answered {1} with a body that is not what the API documents")]
    Unexpected(
        String,
        u16,
        #[source] Box<dyn std::error::Error + Send + Sync>,
    ),
    #[error("Stripe answered 2xx with a body that is not what the API documents: {0}")]
    Undecodable(String),
}

fn unavailable(failure: Failure) -> StripeError {
    StripeError::Unavailable(Box::new(failure))
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    message: Option<String>,
}

/// The body of a 2xx, or the error its status and body make by the shared rule.
fn answer(
    what: String,
    status: StatusCode,
    request_id: Option<String>,
    body: Bytes,
) -> Result<Bytes, StripeError> {
    let class = classify::status(status, Conflict::Transient);
    if class == Class::Success {
        return Ok(body);
    }
    let (code, message) = match serde_json::from_slice::<ErrorEnvelope>(&body) {
        Ok(ErrorEnvelope { error }) => (
            error
                .code
                .or(error.kind)
                .unwrap_or_else(|| format!("http_{}", status.as_u16())),
            error.message.unwrap_or_default(),
        ),
        Err(_) => (format!("http_{}", status.as_u16()), body_excerpt(&body)),
    };
    if class == Class::Retryable {
        return Err(unavailable(Failure::Status {
            what,
            status: status.as_u16(),
            code,
            message,
            request_id: request_id.unwrap_or_default(),
        }));
    }
    Err(StripeError::Rejected {
        status: status.as_u16(),
        code,
        message,
    })
}

#[async_trait]
impl StripeCustomers for StripeClient {
    async fn create_customer(
        &self,
        user: &SubjectId,
        idempotency_key: &str,
    ) -> Result<StripeCustomerId, StripeError> {
        let key = super::billing::subject_key(user, "clerkUserId", "clerkOrgId");
        let request =
            CreateCustomer::new().metadata(HashMap::from([(key.to_owned(), user.to_string())]));
        let customer: Object = idempotent(answer_as(&request), idempotency_key)?
            .send(self)
            .await?;
        StripeCustomerId::parse(customer.id.as_str()).map_err(|e| {
            unavailable(Failure::Unexpected(
                "POST /v1/customers".to_owned(),
                200,
                e.into(),
            ))
        })
    }

    async fn update_customer(
        &self,
        customer: &StripeCustomerId,
        profile: &CustomerProfile,
        idempotency_key: &str,
    ) -> Result<(), StripeError> {
        if profile.email.is_none() && profile.name.is_none() {
            return Ok(());
        }
        let mut request = UpdateCustomer::new(path_segment(customer.as_str()));
        if let Some(email) = &profile.email {
            request = request.email(email.clone());
        }
        if let Some(name) = &profile.name {
            request = request.name(name.clone());
        }
        let _: Object = idempotent(answer_as(&request), idempotency_key)?
            .send(self)
            .await?;
        Ok(())
    }
}

/// `status=all`: the default listing leaves out canceled subscriptions but keeps `incomplete_expired` ones,
/// so asking for everything and filtering here is the one way to apply a single rule. Written out rather
/// than async-stripe's `ListSubscription` so the query keeps the order our logs and tests pin.
fn subscriptions_page(customer: &StripeCustomerId, starting_after: Option<&str>) -> RequestBuilder {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("customer", customer.as_str())
        .append_pair("status", "all")
        .append_pair("limit", PAGE_LIMIT);
    if let Some(after) = starting_after {
        query.append_pair("starting_after", after);
    }
    let mut request = RequestBuilder::new(StripeMethod::Get, "/subscriptions");
    request.query = Some(query.finish());
    request
}

/// A customer as `GET /v1/customers` lists it.
#[derive(Debug, Clone, miniserde::Deserialize)]
pub struct ListedCustomer {
    pub id: String,
    pub created: i64,
    pub email: Option<String>,
    pub metadata: Option<HashMap<String, String>>,
    pub deleted: Option<bool>,
}

impl Listed for ListedCustomer {
    fn id(&self) -> &str {
        &self.id
    }
}

/// A listed object: its id is the cursor (`starting_after`) of the page after it.
pub(crate) trait Listed {
    fn id(&self) -> &str;
}

impl Listed for Subscription {
    fn id(&self) -> &str {
        &self.id
    }
}

impl StripeClient {
    /// Every item of one of Stripe's lists, page after page: `page(after)` is the request for the page that
    /// follows the item `after` (`None`: the first page). The one pager every list goes through.
    pub(crate) async fn list_all<T>(
        &self,
        page: impl Fn(Option<&str>) -> RequestBuilder,
    ) -> Result<Vec<T>, StripeError>
    where
        T: miniserde::Deserialize + Listed + Send + 'static,
    {
        self.list_each(page, |_| {}).await
    }

    /// [`list_all`](Self::list_all), telling `progress` how many items it has after each page.
    pub(crate) async fn list_each<T>(
        &self,
        page: impl Fn(Option<&str>) -> RequestBuilder,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<T>, StripeError>
    where
        T: miniserde::Deserialize + Listed + Send + 'static,
    {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let list: List<T> = page(after.as_deref()).customize().send(self).await?;
            let last = list.data.last().map(|item| item.id().to_owned());
            all.extend(list.data);
            progress(all.len());
            match last {
                Some(last) if list.has_more => after = Some(last),
                _ => return Ok(all),
            }
        }
    }

    /// Every customer of the account (`GET /v1/customers`, newest first; none deleted), `progress` told the
    /// count after each page.
    pub async fn customers(
        &self,
        progress: impl FnMut(usize),
    ) -> Result<Vec<ListedCustomer>, StripeError> {
        let all: Vec<ListedCustomer> = self
            .list_each(
                |after| {
                    let mut query = form_urlencoded::Serializer::new(String::new());
                    query.append_pair("limit", PAGE_LIMIT);
                    if let Some(after) = after {
                        query.append_pair("starting_after", after);
                    }
                    let mut request = RequestBuilder::new(StripeMethod::Get, "/customers");
                    request.query = Some(query.finish());
                    request
                },
                progress,
            )
            .await?;
        Ok(all
            .into_iter()
            .filter(|c| c.deleted != Some(true))
            .collect())
    }

    /// Every subscription of the customer (all statuses, newest first), following Stripe's pages.
    pub(crate) async fn subscriptions_of(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Vec<Subscription>, StripeError> {
        self.list_all(|after| subscriptions_page(customer, after))
            .await
    }
}

#[async_trait]
impl StripeSubscriptions for StripeClient {
    async fn chargeable_subscriptions(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Vec<String>, StripeError> {
        Ok(self
            .subscriptions_of(customer)
            .await?
            .into_iter()
            .filter(|sub| !ended(&sub.status))
            .map(|sub| sub.id)
            .collect())
    }

    async fn cancel_subscription(
        &self,
        subscription_id: &str,
        at_period_end: bool,
        idempotency_key: &str,
    ) -> Result<(), StripeError> {
        let id = stripe_shared::SubscriptionId::from(path_segment(subscription_id));
        let outcome = if at_period_end {
            let request = UpdateSubscription::new(id).cancel_at_period_end(true);
            idempotent(answer_as::<Object>(&request), idempotency_key)?
                .send(self)
                .await
        } else {
            idempotent(
                answer_as::<Object>(&CancelSubscription::new(id)),
                idempotency_key,
            )?
            .send(self)
            .await
        };
        match outcome.map_err(StripeError::from) {
            Ok(_) => Ok(()),
            // Stripe answers 404 `resource_missing` to canceling a canceled subscription (and 400 to asking it
            // to cancel at period end): for us the cancel is done, so a retry or a race with another cancel
            // succeeds. Checked with a GET so that an id that never existed still fails.
            Err(rejected @ StripeError::Rejected { .. }) => {
                if self.has_ended(subscription_id).await? {
                    Ok(())
                } else {
                    Err(rejected)
                }
            }
            Err(unavailable) => Err(unavailable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_version_is_the_one_async_stripes_types_are_generated_for() {
        assert_eq!(STRIPE_VERSION, stripe_shared::version::VERSION.as_str());
    }
}
