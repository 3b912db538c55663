//! `StripeClient`: the production Stripe API client behind `StripeCustomers` and `StripeSubscriptions`, and
//! the form-POST / GET / DELETE helpers the other Stripe calls build on.
//!
//! Not async-stripe: it would link a second HTTP/TLS stack (hyper 0.14, rustls 0.21) next to the AWS SDK's and
//! add minutes of compile time, for an API that is form bodies in and JSON out. This client uses the hyper 1 +
//! rustls (aws-lc) stack the SDK already links, so each function carries one TLS stack.
//!
//! The HTTP client is built on the first request rather than in `new`: loading the native root certificates
//! reads every file under /etc/ssl/certs, and that must not lengthen every cold start, least of all for the
//! invocations that never call Stripe.
use crate::adapters::http::{body_excerpt, HttpClient, LazyClient};
use async_trait::async_trait;
use entitle_domain::ids::{StripeCustomerId, UserId};
use entitle_domain::ports::{CustomerProfile, StripeCustomers, StripeError, StripeSubscriptions};
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::fmt::Write as _;
use std::time::Duration;

/// Pinned so that upgrading the account's default API version in the dashboard cannot change the shapes we
/// send and parse; moving it is a code change, tested against the new shapes.
pub const STRIPE_VERSION: &str = "2025-08-27.basil";

/// Total time for one request, connection included. Well under the functions' Lambda timeouts, so a
/// hanging Stripe ends as a retryable error rather than a killed invocation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

const USER_AGENT_VALUE: &str = concat!("entitle/", env!("CARGO_PKG_VERSION"));

/// Stripe's largest page.
const PAGE_LIMIT: &str = "100";

/// Subscription statuses that can never charge again.
const ENDED: [&str; 2] = ["canceled", "incomplete_expired"];

/// Stripe's API over one lazily built HTTP client. Errors: connection failures, timeouts, 5xx, 429 and 409
/// are [`StripeError::Unavailable`] (retry under the same idempotency key); other 4xx are
/// [`StripeError::Rejected`] with Stripe's `code` (its `type` when there is none), and a request that could
/// not even be built (a bad base URL or header value) is `Rejected` with status 0. No error carries the key.
/// How often a 409 is retried (after 200, 400 and 800 ms).
const CONFLICT_RETRIES: u32 = 3;

pub struct StripeClient {
    base: String,
    key: SecretString,
    timeout: Duration,
    http: LazyClient,
}

impl StripeClient {
    /// `base`: `https://api.stripe.com` in production (`STRIPE_API_BASE` overrides it; tests point it at a
    /// local fake over plain http). Cheap: nothing is loaded or connected until the first request.
    pub fn new(api_key: SecretString, base: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            key: api_key,
            timeout: DEFAULT_TIMEOUT,
            http: LazyClient::new(),
        }
    }

    /// Replaces [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `POST {path}` with `params` form-encoded (nested keys as Stripe spells them: `metadata[k]`,
    /// `line_items[0][price]`). Stripe keeps the answer under `idempotency_key` for 24 hours, so a retry with
    /// the same key and the same params has no second effect.
    pub async fn post_form(
        &self,
        path: &str,
        params: &[(&str, String)],
        idempotency_key: &str,
    ) -> Result<Value, StripeError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        self.send(Method::POST, path, Some(form), Some(idempotency_key))
            .await
    }

    /// `GET {path_and_query}`; the caller encodes the query (e.g. with `form_urlencoded::Serializer`).
    pub async fn get(&self, path_and_query: &str) -> Result<Value, StripeError> {
        self.send(Method::GET, path_and_query, None, None).await
    }

    /// `DELETE {path}`.
    pub async fn delete(&self, path: &str, idempotency_key: &str) -> Result<Value, StripeError> {
        self.send(Method::DELETE, path, None, Some(idempotency_key))
            .await
    }

    async fn http(&self) -> Result<&HttpClient, StripeError> {
        self.http
            .get()
            .await
            .map_err(|e| unavailable(Failure::Roots(e)))
    }

    /// One request under the total timeout, its answer classified. A 409 — another request with the same
    /// idempotency key still running (a double-click, racing webhooks), or a lock timeout — is retried a few
    /// times after a short pause: the replay then returns the first request's answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        form: Option<String>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, StripeError> {
        let what = format!("{method} {path}");
        let http = self.http().await?;
        let mut attempt = 0;
        loop {
            let request = self
                .request(method.clone(), path, form.clone(), idempotency_key)
                .map_err(|e| StripeError::Rejected {
                    status: 0,
                    code: "invalid_request".to_owned(),
                    message: format!("{what} was not sent: {e}"),
                })?;
            let exchange = async {
                let response = http
                    .request(request)
                    .await
                    .map_err(|e| Failure::Connection(what.clone(), e.into()))?;
                let status = response.status();
                let request_id = response
                    .headers()
                    .get("request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| Failure::Connection(what.clone(), e.into()))?
                    .to_bytes();
                Ok((status, request_id, body))
            };
            let (status, request_id, body) =
                match tokio::time::timeout(self.timeout, exchange).await {
                    Err(_) => return Err(unavailable(Failure::Timeout(what, self.timeout))),
                    Ok(Err(failure)) => return Err(unavailable(failure)),
                    Ok(Ok(answer)) => answer,
                };
            tracing::debug!(
                request = %what,
                status = status.as_u16(),
                request_id = request_id.as_deref().unwrap_or(""),
                "Stripe answered"
            );
            if status.as_u16() == 409 && attempt < CONFLICT_RETRIES {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                continue;
            }
            return classify(what, status, request_id, &body);
        }
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        form: Option<String>,
        idempotency_key: Option<&str>,
    ) -> Result<Request<Full<Bytes>>, http::Error> {
        let mut authorization =
            HeaderValue::try_from(format!("Bearer {}", self.key.expose_secret()))?;
        // Keeps the key out of any `Debug` of the request, should hyper or a caller ever log one.
        authorization.set_sensitive(true);
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(AUTHORIZATION, authorization)
            .header("Stripe-Version", STRIPE_VERSION)
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(ACCEPT, "application/json");
        if form.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        if let Some(key) = idempotency_key {
            builder = builder.header("Idempotency-Key", key);
        }
        builder.body(Full::new(Bytes::from(form.unwrap_or_default())))
    }

    /// Whether the subscription at `path` has already ended, so a failed cancel still left it unable to
    /// charge. `false` when it cannot be found either.
    async fn has_ended(&self, path: &str) -> Result<bool, StripeError> {
        match self.get(path).await {
            Ok(subscription) => Ok(subscription["status"]
                .as_str()
                .is_some_and(|status| ENDED.contains(&status))),
            Err(StripeError::Rejected { .. }) => Ok(false),
            Err(unavailable) => Err(unavailable),
        }
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

/// `id` percent-encoded as one path segment, so an id that comes from data can never add segments, a query
/// or a fragment to the URL: `format!("/v1/customers/{}", path_segment(id))`. Dots are encoded too, so no
/// id can become a `..` segment that something on the way normalises.
pub fn path_segment(id: &str) -> String {
    let mut encoded = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// Why a request got no usable answer: the `source` of [`StripeError::Unavailable`]. Never holds the key.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("cannot load the native root certificates")]
    Roots(#[source] std::io::Error),
    #[error("{0}: cannot reach Stripe")]
    Connection(String, #[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("{0}: no answer from Stripe within {1:?}")]
    Timeout(String, Duration),
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

fn classify(
    what: String,
    status: StatusCode,
    request_id: Option<String>,
    body: &[u8],
) -> Result<Value, StripeError> {
    if status.is_success() {
        // A 2xx Stripe did not write (a proxy's page, a cut-off body): retrying is safe under the
        // idempotency key, and giving up would lose an effect that may have happened.
        return serde_json::from_slice(body)
            .map_err(|e| unavailable(Failure::Unexpected(what, status.as_u16(), e.into())));
    }
    let (code, message) = match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(ErrorEnvelope { error }) => (
            error
                .code
                .or(error.kind)
                .unwrap_or_else(|| format!("http_{}", status.as_u16())),
            error.message.unwrap_or_default(),
        ),
        Err(_) => (format!("http_{}", status.as_u16()), body_excerpt(body)),
    };
    // 409: another request with the same idempotency key is still running, or a lock timed out; both pass.
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::CONFLICT
    {
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

fn customer_id(customer: &Value) -> Result<StripeCustomerId, StripeError> {
    let id = customer["id"].as_str().unwrap_or_default();
    StripeCustomerId::parse(id).map_err(|e| {
        unavailable(Failure::Unexpected(
            "POST /v1/customers".to_owned(),
            200,
            e.into(),
        ))
    })
}

#[async_trait]
impl StripeCustomers for StripeClient {
    async fn create_customer(
        &self,
        user: &UserId,
        idempotency_key: &str,
    ) -> Result<StripeCustomerId, StripeError> {
        let params = [("metadata[clerkUserId]", user.to_string())];
        let customer = self
            .post_form("/v1/customers", &params, idempotency_key)
            .await?;
        customer_id(&customer)
    }

    async fn update_customer(
        &self,
        customer: &StripeCustomerId,
        profile: &CustomerProfile,
        idempotency_key: &str,
    ) -> Result<(), StripeError> {
        let params: Vec<(&str, String)> = [("email", &profile.email), ("name", &profile.name)]
            .into_iter()
            .filter_map(|(name, value)| value.clone().map(|value| (name, value)))
            .collect();
        if params.is_empty() {
            return Ok(());
        }
        let path = format!("/v1/customers/{}", path_segment(customer.as_str()));
        self.post_form(&path, &params, idempotency_key).await?;
        Ok(())
    }
}

#[derive(Deserialize)]
struct SubscriptionPage {
    data: Vec<Value>,
    has_more: bool,
}

/// `status=all`: the default listing leaves out canceled subscriptions but keeps `incomplete_expired` ones,
/// so asking for everything and filtering here is the one way to apply a single rule.
fn subscriptions_page(customer: &StripeCustomerId, starting_after: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("customer", customer.as_str())
        .append_pair("status", "all")
        .append_pair("limit", PAGE_LIMIT);
    if let Some(after) = starting_after {
        query.append_pair("starting_after", after);
    }
    format!("/v1/subscriptions?{}", query.finish())
}

impl StripeClient {
    /// Every subscription of the customer (all statuses, newest first), following Stripe's pages.
    pub(crate) async fn subscriptions_of(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Vec<Value>, StripeError> {
        let mut all = Vec::new();
        let mut starting_after: Option<String> = None;
        loop {
            let path = subscriptions_page(customer, starting_after.as_deref());
            let page: SubscriptionPage =
                serde_json::from_value(self.get(&path).await?).map_err(|e| {
                    unavailable(Failure::Unexpected(format!("GET {path}"), 200, e.into()))
                })?;
            let last = page
                .data
                .last()
                .and_then(|s| s["id"].as_str())
                .map(str::to_owned);
            all.extend(page.data);
            match last {
                Some(last) if page.has_more => starting_after = Some(last),
                _ => return Ok(all),
            }
        }
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
            .iter()
            .filter(|sub| {
                sub["status"]
                    .as_str()
                    .is_some_and(|status| !ENDED.contains(&status))
            })
            .filter_map(|sub| sub["id"].as_str().map(str::to_owned))
            .collect())
    }

    async fn cancel_subscription(
        &self,
        subscription_id: &str,
        at_period_end: bool,
        idempotency_key: &str,
    ) -> Result<(), StripeError> {
        let path = format!("/v1/subscriptions/{}", path_segment(subscription_id));
        let outcome = if at_period_end {
            let params = [("cancel_at_period_end", "true".to_owned())];
            self.post_form(&path, &params, idempotency_key).await
        } else {
            self.delete(&path, idempotency_key).await
        };
        match outcome {
            Ok(_) => Ok(()),
            // Stripe answers 404 `resource_missing` to canceling a canceled subscription (and 400 to asking it
            // to cancel at period end): for us the cancel is done, so a retry or a race with another cancel
            // succeeds. Checked with a GET so that an id that never existed still fails.
            Err(rejected @ StripeError::Rejected { .. }) => {
                if self.has_ended(&path).await? {
                    Ok(())
                } else {
                    Err(rejected)
                }
            }
            Err(unavailable) => Err(unavailable),
        }
    }
}
