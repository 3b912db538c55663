//! The HTTPS client of the APIs we call (Stripe, Clerk, Clerk's JWKS): the hyper 1 + rustls (aws-lc) stack the
//! AWS SDK already links, so a function has a single TLS stack. It trusts Mozilla's roots compiled in
//! (webpki-roots): no certificate file is read, at init or on the first request. Each API client builds its
//! own on first use.
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::fmt::Write as _;
use std::time::Duration;
use tokio::sync::OnceCell;

pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client built on first use.
#[derive(Default)]
pub struct LazyClient(OnceCell<HttpClient>);

impl LazyClient {
    pub fn new() -> Self {
        Self(OnceCell::new())
    }

    /// The client. Building it cannot fail since the roots are compiled in; the `Result` keeps the callers'
    /// error path for a client that could.
    pub async fn get(&self) -> Result<&HttpClient, std::io::Error> {
        Ok(self.0.get_or_init(|| async { build() }).await)
    }
}

fn build() -> HttpClient {
    let https = HttpsConnectorBuilder::new()
        .with_webpki_roots()
        // `http` only ever for a local stand-in: production bases are https (and the JWKS URL is checked).
        .https_or_http()
        .enable_http1()
        .build();
    // A Lambda environment can sit frozen for minutes; pooled connections older than this are likely closed
    // by the other side, so they are not reused.
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(20))
        .pool_timer(TokioTimer::new())
        .build(https)
}

/// The start of a body that is not the API's error JSON, enough to recognise a proxy's error page in a log.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Why an exchange with an API got no answer: both retryable for every API (see `classify`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum NoAnswer {
    #[error("{what}: cannot reach {api}")]
    Connection {
        api: &'static str,
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{what}: no answer from {api} within {timeout:?}")]
    Timeout {
        api: &'static str,
        what: String,
        timeout: Duration,
    },
}

/// An API's answer: its status, the value of its request-id header, its `Retry-After` (in seconds, when
/// given as such), its body.
pub(crate) struct Answer {
    pub status: http::StatusCode,
    pub request_id: Option<String>,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

/// How often a rate-limited (429) request is sent again before it is left to the caller's own retry (an SQS
/// redelivery, the client's).
pub(crate) const RATE_LIMIT_RETRIES: u32 = 2;

/// The longest wait for one rate-limited retry: a `Retry-After` beyond it is not waited out inside the call
/// (it would eat the function's time budget); the request is then unavailable at once.
pub(crate) const RATE_LIMIT_MAX_WAIT: Duration = Duration::from_secs(2);

/// The wait before rate-limited retry `attempt` (1, 2, …): the API's `Retry-After` when it gives one, else
/// exponential backoff from 250 ms, plus up to 100 ms of jitter so that racing callers spread out; `None`
/// when the API asks for longer than [`RATE_LIMIT_MAX_WAIT`].
pub(crate) fn rate_limit_wait(attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
    let base = retry_after.unwrap_or(Duration::from_millis(250 << attempt.min(4)));
    if base > RATE_LIMIT_MAX_WAIT {
        return None;
    }
    let mut byte = [0u8; 1];
    let jitter = match getrandom::fill(&mut byte) {
        Ok(()) => u64::from(byte[0]) * 100 / 255,
        Err(_) => 50,
    };
    Some(base + Duration::from_millis(jitter))
}

/// The rate-limited (429) retries of one call: each 429 is counted under `metric`; up to
/// [`RATE_LIMIT_RETRIES`] of them are waited out inside the call ([`rate_limit_wait`]), the rest left to the
/// caller's own retry.
pub(crate) struct RateLimitRetries {
    api: &'static str,
    metric: &'static str,
    taken: u32,
}

impl RateLimitRetries {
    pub(crate) fn new(api: &'static str, metric: &'static str) -> Self {
        Self {
            api,
            metric,
            taken: 0,
        }
    }

    /// `true`, after the wait, when `answer` is a 429 to send again now; `false` for any other answer and for a
    /// 429 past the retries or asking for a longer wait than one call can take.
    pub(crate) async fn wait_to_retry(&mut self, what: &str, answer: &Answer) -> bool {
        if answer.status != http::StatusCode::TOO_MANY_REQUESTS {
            return false;
        }
        crate::metrics::count(self.metric, 1);
        if self.taken >= RATE_LIMIT_RETRIES {
            return false;
        }
        let Some(wait) = rate_limit_wait(self.taken + 1, answer.retry_after) else {
            return false;
        };
        self.taken += 1;
        tracing::warn!(
            request = %what,
            api = self.api,
            wait_ms = wait.as_millis() as u64,
            "rate-limited; retrying"
        );
        tokio::time::sleep(wait).await;
        true
    }
}

/// What one exchange is: to which API (`api`, in messages), described how (`what`: `POST /v1/…`), under
/// which total timeout, which header names the request in the API's logs, and the most body read.
pub(crate) struct Exchange<'a> {
    pub api: &'static str,
    pub what: &'a str,
    pub timeout: Duration,
    pub request_id_header: &'static str,
    pub max_body_bytes: usize,
}

impl Exchange<'_> {
    /// Sends `request` and reads the whole answer, all under the timeout.
    pub(crate) async fn send(
        &self,
        http: &HttpClient,
        request: http::Request<Full<Bytes>>,
    ) -> Result<Answer, NoAnswer> {
        use http_body_util::{BodyExt, Limited};
        let connection = |source: Box<dyn std::error::Error + Send + Sync>| NoAnswer::Connection {
            api: self.api,
            what: self.what.to_owned(),
            source,
        };
        let exchange = async {
            let response = http
                .request(request)
                .await
                .map_err(|e| connection(e.into()))?;
            let status = response.status();
            let request_id = response
                .headers()
                .get(self.request_id_header)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = Limited::new(response.into_body(), self.max_body_bytes)
                .collect()
                .await
                .map_err(connection)?
                .to_bytes();
            Ok(Answer {
                status,
                request_id,
                retry_after,
                body,
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Err(NoAnswer::Timeout {
                api: self.api,
                what: self.what.to_owned(),
                timeout: self.timeout,
            }),
            Ok(answer) => answer,
        }
    }
}

/// A request with what every call of ours carries: the API key as a bearer token (marked sensitive, so no
/// `Debug` of the request shows it), our User-Agent, and `Accept: application/json`.
pub(crate) fn bearer(
    method: http::Method,
    uri: &str,
    key: &secrecy::SecretString,
) -> Result<http::request::Builder, http::Error> {
    use http::header::{HeaderValue, ACCEPT, AUTHORIZATION, USER_AGENT};
    use secrecy::ExposeSecret;
    let mut authorization = HeaderValue::try_from(format!("Bearer {}", key.expose_secret()))?;
    authorization.set_sensitive(true);
    Ok(http::Request::builder()
        .method(method)
        .uri(uri)
        .header(AUTHORIZATION, authorization)
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header(ACCEPT, "application/json"))
}

/// The User-Agent of every call to Stripe and Clerk.
pub(crate) const USER_AGENT_VALUE: &str = concat!("entitle/", env!("CARGO_PKG_VERSION"));

/// `send` with the current key; when the API answers 401, the key is read again (rate-limited) and, when
/// it changed, `send` runs once more with the new one — a key rolled in Secrets Manager is picked up on the
/// first refusal, by every client alike.
pub(crate) async fn with_key_refresh<T, E, F, Fut>(
    key: &crate::secrets::Rotating<secrecy::SecretString>,
    not_set: impl FnOnce(crate::secrets::NotSet) -> E,
    send: F,
) -> Result<T, E>
where
    F: Fn(std::sync::Arc<secrecy::SecretString>) -> Fut,
    Fut: std::future::Future<Output = Result<(http::StatusCode, T), E>>,
{
    let current = key.current().await.map_err(not_set)?;
    let (status, answer) = send(current).await?;
    if status == http::StatusCode::UNAUTHORIZED {
        if let Some(fresh) = key.refresh().await {
            return Ok(send(fresh).await?.1);
        }
    }
    Ok(answer)
}

/// `id` percent-encoded as one path segment, so an id that comes from data can never add segments, a query
/// or a fragment to the URL: `format!("/v1/customers/{}", path_segment(id))`. Dots are encoded too, so no
/// id can become a `..` segment that something on the way normalises. async-stripe's requests put the ids
/// they are given into the path as they are, so theirs are built from this too
/// (`RetrieveSubscription::new(path_segment(id))`); the id is used for nothing else.
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
