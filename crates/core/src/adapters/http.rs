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
