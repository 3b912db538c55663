//! `ClerkClient`: Clerk's Backend API behind `ClerkUsers`, which mirrors a user's billing state into their
//! `public_metadata` so the frontend can read it from the session.
//!
//! Same stack and shape as `StripeClient`: hyper 1 + rustls (aws-lc), so each function links one TLS stack;
//! the HTTP client is built on the first request, so a cold start that does not call Clerk pays nothing for
//! it; answers are classified into retryable or not by the rule Stripe's and the JWKS fetch's answers follow
//! too (`adapters::classify`), Clerk's 409 being permanent.
use crate::adapters::classify::{self, Class, Conflict};
use crate::adapters::http::path_segment;
use crate::adapters::http::{
    bearer, body_excerpt, with_key_refresh, Exchange, HttpClient, LazyClient, NoAnswer,
    RateLimitRetries,
};
use crate::secrets::Rotating;
use async_trait::async_trait;
use entitle_domain::ids::{OrgId, SubjectId, SubjectKind, UserId};
use entitle_domain::ports::{ClerkError, ClerkUsers, OrganizationMembers};
use http::header::CONTENT_TYPE;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Total time for one request, connection included. Metadata writes are small; a Clerk that takes longer is
/// better retried later (the processor's SQS redelivery) than waited on.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A user object is a few KB; a body far beyond that is not Clerk's answer.
const MAX_BODY_BYTES: usize = 1 << 20;

/// The key of `public_metadata` that Entitle owns.
const BILLING: &str = "billing";

/// Clerk's Backend API over one lazily built HTTP client. A 429 is sent again after Clerk's `Retry-After` (twice,
/// when it asks for at most 2 s). Errors: connection failures, timeouts, 5xx and 429
/// are [`ClerkError::Unavailable`]; other 4xx are [`ClerkError::Rejected`] with the `code` and
/// `long_message` of Clerk's first error, and a request that could not even be built (a bad base URL or key)
/// is `Rejected` with status 0. No error carries the key.
pub struct ClerkClient {
    base: String,
    /// Re-read per TTL, and once (rate-limited) when Clerk answers 401: a rolled key needs no redeploy.
    key: Rotating<SecretString>,
    timeout: Duration,
    http: LazyClient,
}

impl ClerkClient {
    /// `base`: `https://api.clerk.com` in production (`CLERK_API_BASE` overrides it; tests point it at a
    /// local fake over plain http). Cheap: nothing is loaded or connected until the first request.
    pub fn new(secret_key: impl Into<Rotating<SecretString>>, base: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            key: secret_key.into(),
            timeout: DEFAULT_TIMEOUT,
            http: LazyClient::new(),
        }
    }

    /// Replaces [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `GET /v1/users/{id}`, or `GET /v1/organizations/{id}` for an organization: the subject's object.
    pub async fn user(&self, user: &SubjectId) -> Result<Value, ClerkError> {
        let path = format!("/v1/{}/{}", collection(user), path_segment(user.as_str()));
        self.send(Method::GET, &path, None).await
    }

    /// `GET /v1/organizations/{org}/memberships?user_id={user}`: the user's membership of the organization,
    /// with its role and permissions (system permissions included, which session tokens leave out), or
    /// `None` when the user is not a member.
    pub async fn membership(
        &self,
        org: &OrgId,
        user: &UserId,
    ) -> Result<Option<Membership>, ClerkError> {
        let path = format!(
            "/v1/organizations/{}/memberships?user_id={}&limit=1",
            path_segment(org.as_str()),
            path_segment(user.as_str())
        );
        let answer = self.send(Method::GET, &path, None).await?;
        let list: MembershipList =
            serde_json::from_value(answer).map_err(|e| ClerkError::Rejected {
                status: 200,
                code: "unexpected_answer".into(),
                message: format!("the membership list is not Clerk's shape: {e}"),
            })?;
        Ok(list.data.into_iter().find(|m| {
            m.public_user_data
                .as_ref()
                .is_none_or(|u| u.user_id.as_deref() == Some(user.as_str()))
        }))
    }

    /// `GET /v1/users?email_address=…`: the users with that email address (Clerk matches any of a user's
    /// addresses; the caller checks which is primary).
    pub async fn users_by_email(&self, email: &str) -> Result<Vec<Value>, ClerkError> {
        let path = format!("/v1/users?email_address={}", path_segment(email));
        match self.send(Method::GET, &path, None).await? {
            Value::Array(users) => Ok(users),
            other => Err(ClerkError::Rejected {
                status: 200,
                code: "unexpected_answer".into(),
                message: format!(
                    "GET /v1/users answered a {} where a list was expected",
                    if other.is_object() { "object" } else { "value" }
                ),
            }),
        }
    }

    /// `PATCH /v1/users/{id}/metadata` (an organization's: `/v1/organizations/{id}/metadata`) with
    /// `metadata` (`{"public_metadata": …, "private_metadata": …}`): Clerk deep-merges it into the subject's
    /// metadata, deleting the keys set to `null`. Returns the user or organization.
    pub async fn merge_metadata(
        &self,
        user: &SubjectId,
        metadata: &Value,
    ) -> Result<Value, ClerkError> {
        let path = format!(
            "/v1/{}/{}/metadata",
            collection(user),
            path_segment(user.as_str())
        );
        self.send(Method::PATCH, &path, Some(metadata)).await
    }

    /// A list's `total_count`: how many there are in all, whatever the page (one item is asked for).
    async fn total_count(&self, path: &str) -> Result<u64, ClerkError> {
        let answer = self.send(Method::GET, path, None).await?;
        answer["total_count"]
            .as_u64()
            .ok_or_else(|| ClerkError::Rejected {
                status: 200,
                code: "unexpected_answer".into(),
                message: format!(
                    "GET {} answered no total_count",
                    path.split('?').next().unwrap_or(path)
                ),
            })
    }

    async fn http(&self) -> Result<&HttpClient, ClerkError> {
        self.http
            .get()
            .await
            .map_err(|e| unavailable(Failure::Roots(e)))
    }

    /// One request under the total timeout, its answer classified. A 401 reads the key again
    /// (rate-limited) and, when it changed, retries once with the new one.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClerkError> {
        with_key_refresh(
            &self.key,
            |e| ClerkError::Unavailable(e.into()),
            |key| self.send_with(key, method.clone(), path, body),
        )
        .await?
    }

    async fn send_with(
        &self,
        key: Arc<SecretString>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Result<Value, ClerkError>), ClerkError> {
        let what = format!("{method} {path}");
        let http = self.http().await?;
        let exchange = Exchange {
            api: "Clerk",
            what: &what,
            timeout: self.timeout,
            request_id_header: "x-clerk-trace-id",
            max_body_bytes: MAX_BODY_BYTES,
        };
        let mut rate_limited = RateLimitRetries::new("Clerk", "ClerkRateLimited");
        loop {
            let request = self
                .request(&key, method.clone(), path, body)
                .map_err(|e| ClerkError::Rejected {
                    status: 0,
                    code: "invalid_request".to_owned(),
                    message: format!("{what} was not sent: {e}"),
                })?;
            let answer = exchange
                .send(http, request)
                .await
                .map_err(|e| unavailable(Failure::NoAnswer(e)))?;
            tracing::debug!(request = %what, status = answer.status.as_u16(), "Clerk answered");
            // Rate-limited (100 requests per 10 s on a development instance): Clerk says when to come back.
            // A short wait is taken inside the call; a longer one is left to the caller's own retry.
            if rate_limited.wait_to_retry(&what, &answer).await {
                continue;
            }
            return Ok((answer.status, classify(what, answer.status, &answer.body)));
        }
    }

    fn request(
        &self,
        key: &SecretString,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Request<Full<Bytes>>, http::Error> {
        let mut builder = bearer(method, &format!("{}{path}", self.base), key)?;
        if body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        builder.body(Full::new(Bytes::from(
            body.map(Value::to_string).unwrap_or_default(),
        )))
    }
}

impl fmt::Debug for ClerkClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClerkClient")
            .field("base", &self.base)
            .field("key", &"[REDACTED]")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Where Clerk keeps a subject: users or organizations.
fn collection(subject: &SubjectId) -> &'static str {
    match subject.kind() {
        SubjectKind::User => "users",
        SubjectKind::Organization => "organizations",
    }
}

/// A user's membership of an organization, as Clerk's Backend API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Membership {
    /// `org:admin`, `org:member`, or a custom role.
    pub role: String,
    /// Every permission of the role, system ones (`org:sys_billing:manage`) included.
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    public_user_data: Option<PublicUserData>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct PublicUserData {
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct MembershipList {
    data: Vec<Membership>,
}

#[async_trait]
impl OrganizationMembers for ClerkClient {
    async fn permissions(
        &self,
        org: &OrgId,
        user: &UserId,
    ) -> Result<Option<Vec<String>>, ClerkError> {
        Ok(self.membership(org, user).await?.map(|m| m.permissions))
    }

    async fn count(&self, org: &OrgId, invitations: bool) -> Result<u64, ClerkError> {
        let org = path_segment(org.as_str());
        let mut count = self
            .total_count(&format!("/v1/organizations/{org}/memberships?limit=1"))
            .await?;
        if invitations {
            count += self
                .total_count(&format!(
                    "/v1/organizations/{org}/invitations?status=pending&limit=1"
                ))
                .await?;
        }
        Ok(count)
    }
}

#[async_trait]
impl ClerkUsers for ClerkClient {
    /// Reads the user's current `billing` first, then patches with [`replacement_patch`]: Clerk's deep merge
    /// would otherwise keep every key the new billing no longer has (a limit of the old plan, a
    /// `graceUntil` that ended), so the frontend would see a mix of both. The read also skips writing a
    /// billing Clerk already holds: every metadata write costs a `user.updated` webhook and a token refresh.
    ///
    /// Not atomic (Clerk has no conditional metadata write): if two writers race, a key only the loser's read
    /// missed can survive until the next write, which reads it and deletes it.
    #[tracing::instrument(skip_all, fields(user = %user))]
    async fn set_billing_metadata(
        &self,
        user: &SubjectId,
        billing: &Value,
    ) -> Result<(), ClerkError> {
        let current = self.user(user).await?;
        let current = current["public_metadata"]
            .get(BILLING)
            .filter(|value| !value.is_null());
        if current == stored_form(billing).as_ref() {
            tracing::debug!("Clerk already holds this billing metadata");
            return Ok(());
        }
        let patch = json!({"public_metadata": {BILLING: replacement_patch(current, billing)}});
        self.merge_metadata(user, &patch).await?;
        Ok(())
    }
}

/// The merge patch that turns `current` into `new` under Clerk's deep merge (RFC 7396's rules: objects merge
/// key by key, `null` deletes, anything else replaces): every key of `new`, as is, and `null` for every key
/// of `current` that `new` lacks, at any depth where both are objects.
pub fn replacement_patch(current: Option<&Value>, new: &Value) -> Value {
    match (current, new) {
        (Some(Value::Object(current)), Value::Object(new)) => {
            let mut patch: Map<String, Value> = new
                .iter()
                .map(|(key, value)| (key.clone(), replacement_patch(current.get(key), value)))
                .collect();
            for key in current.keys().filter(|key| !new.contains_key(*key)) {
                patch.insert(key.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        _ => new.clone(),
    }
}

/// `value` as Clerk stores it once merged: without the keys set to `null`, and `None` for `null` itself.
fn stored_form(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Object(map) => Some(Value::Object(
            map.iter()
                .filter_map(|(key, value)| Some((key.clone(), stored_form(value)?)))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// Why a request got no usable answer: the `source` of [`ClerkError::Unavailable`]. Never holds the key.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("cannot build the HTTPS client")]
    Roots(#[source] std::io::Error),
    #[error(transparent)]
    NoAnswer(NoAnswer),
    #[error("{what}: Clerk answered {status} ({code}): {message} [trace {trace_id}]")]
    Status {
        what: String,
        status: u16,
        code: String,
        message: String,
        trace_id: String,
    },
    #[error("{0}: Clerk answered {1} with a body that is not what the API documents")]
    Unexpected(
        String,
        u16,
        #[source] Box<dyn std::error::Error + Send + Sync>,
    ),
}

fn unavailable(failure: Failure) -> ClerkError {
    ClerkError::Unavailable(Box::new(failure))
}

/// Clerk's error shape: `{"errors": [{"code", "message", "long_message", "meta"}], "clerk_trace_id"}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    errors: Vec<ErrorBody>,
    clerk_trace_id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
    long_message: Option<String>,
}

fn classify(what: String, status: StatusCode, body: &[u8]) -> Result<Value, ClerkError> {
    let class = classify::status(status, Conflict::Permanent);
    if class == Class::Success {
        // A 2xx Clerk did not write (a proxy's page, a cut-off body): metadata merges are idempotent, so
        // retrying is safe, and giving up could leave the write unconfirmed.
        return serde_json::from_slice(body)
            .map_err(|e| unavailable(Failure::Unexpected(what, status.as_u16(), e.into())));
    }
    let fallback = || format!("http_{}", status.as_u16());
    let (code, message, trace_id) = match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(ErrorEnvelope {
            errors,
            clerk_trace_id,
        }) => {
            let first = errors.into_iter().next();
            let (code, message) = match first {
                Some(error) => (
                    error.code.unwrap_or_else(fallback),
                    error.long_message.or(error.message).unwrap_or_default(),
                ),
                None => (fallback(), String::new()),
            };
            (code, message, clerk_trace_id.unwrap_or_default())
        }
        Err(_) => (fallback(), body_excerpt(body), String::new()),
    };
    if class == Class::Retryable {
        return Err(unavailable(Failure::Status {
            what,
            status: status.as_u16(),
            code,
            message,
            trace_id,
        }));
    }
    tracing::debug!(request = %what, status = status.as_u16(), %code, trace_id, "Clerk rejected the request");
    Err(ClerkError::Rejected {
        status: status.as_u16(),
        code,
        message,
    })
}
