//! Secrets that rotate without a redeploy. A [`Rotating`] secret is read once at cold start and then again
//! whenever its copy is older than its TTL (`SECRETS_TTL_SECONDS`, default five minutes), and on demand —
//! rate-limited — when the secret looks stale: a webhook signature that matches no cached signing secret, a
//! 401 from Stripe or Clerk. So putting a new value into Secrets Manager is all a rotation takes.
//!
//! A stack-created secret that nobody has filled yet holds `{"key": ""}`: the function still starts (so a
//! deploy's smoke test and every route that does not need it work), and what needs it answers
//! [`NotSet`] — a 503 the sender retries — until the value is stored (`entitle setup --apply`, or
//! `aws secretsmanager put-secret-value`).
use crate::config::{self, ConfigError};
use aws_config::SdkConfig;
use secrecy::{ExposeSecret, SecretString};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How long a secret read from Secrets Manager is used before it is read again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// The least time between two reads forced by a stale-looking secret: a flood of bad signatures or
/// unknown API keys costs at most one Secrets Manager call per this interval.
pub const FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
pub const TTL_ENV: &str = "SECRETS_TTL_SECONDS";

/// The secret holds no value yet (a stack-created secret before `entitle setup`), or a value that does not
/// parse: what needs it answers 503, and the log names the variable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the secret behind {variable} holds no usable value yet ({reason}): store it with `entitle setup --apply` or `aws secretsmanager put-secret-value`")]
pub struct NotSet {
    pub variable: String,
    pub reason: String,
}

/// Turns a secret's text into what the function uses (a list of signing secrets, a set of API keys…).
/// `Err` names what is wrong with it.
pub type Parse<T> = fn(&SecretString) -> Result<T, String>;

pub struct Rotating<T> {
    variable: String,
    /// `None`: a fixed value.
    source: Option<Source<T>>,
    ttl: Duration,
    forced_interval: Duration,
    state: Mutex<State<T>>,
}

struct Source<T> {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
    parse: Parse<T>,
}

struct State<T> {
    value: Result<Arc<T>, NotSet>,
    /// The text the value was parsed from, to tell a changed secret from a re-read of the same one.
    raw: Option<SecretString>,
    read_at: Instant,
    forced_at: Option<Instant>,
}

impl<T> Rotating<T> {
    /// A value that never changes (tests, local development, a secret given directly in the environment).
    pub fn fixed(value: T) -> Self {
        Self {
            variable: String::new(),
            source: None,
            ttl: DEFAULT_TTL,
            forced_interval: FORCED_REFRESH_INTERVAL,
            state: Mutex::new(State {
                value: Ok(Arc::new(value)),
                raw: None,
                read_at: Instant::now(),
                forced_at: None,
            }),
        }
    }

    /// Secret `name`: the environment's `NAME` (fixed), else the Secrets Manager secret named by `NAME_ARN`,
    /// read now and re-read per `SECRETS_TTL_SECONDS`. Neither set, a failed first read or an invalid
    /// value given directly is a configuration error (the cold start fails); an empty or invalid value in
    /// Secrets Manager is not — see [`NotSet`].
    pub async fn load(name: &str, aws: &SdkConfig, parse: Parse<T>) -> Result<Self, ConfigError> {
        if let Some(value) = config::optional(name) {
            let value =
                parse(&SecretString::from(value)).map_err(|reason| ConfigError::Invalid {
                    name: name.to_owned(),
                    reason,
                })?;
            return Ok(Self::fixed(value));
        }
        let variable = format!("{name}_ARN");
        let arn = config::optional(&variable)
            .ok_or_else(|| ConfigError::Missing(format!("{name} or {variable}")))?;
        let ttl = config::seconds(TTL_ENV, DEFAULT_TTL)?;
        let source = Source {
            client: aws_sdk_secretsmanager::Client::new(aws),
            arn,
            parse,
        };
        let raw = source.read(&variable).await?;
        let value = parsed(&variable, parse, &raw);
        if let Err(not_set) = &value {
            tracing::error!(error = %not_set, "a secret is not set; the function starts without it");
        }
        Ok(Self {
            source: Some(source),
            ttl,
            forced_interval: FORCED_REFRESH_INTERVAL,
            state: Mutex::new(State {
                value,
                raw: Some(raw),
                read_at: Instant::now(),
                forced_at: None,
            }),
            variable,
        })
    }

    /// The value to use now: the cached one, read again first when older than the TTL. A failed re-read
    /// keeps the cached value (and is tried again after another TTL), so a Secrets Manager outage never
    /// takes a working function down.
    ///
    /// A secret not set yet is read again (rate-limited like [`refresh`](Self::refresh)) on every call, so
    /// the first request after someone stores it already works.
    pub async fn current(&self) -> Result<Arc<T>, NotSet> {
        let (stale, unset) = {
            let state = self.lock();
            let fresh = state.read_at.elapsed() < self.ttl;
            if self.source.is_none() || (fresh && state.value.is_ok()) {
                return state.value.clone();
            }
            (!fresh, state.value.is_err())
        };
        if unset && !stale {
            if let Some(value) = self.refresh().await {
                return Ok(value);
            }
        } else {
            self.reread().await;
        }
        self.lock().value.clone()
    }

    /// Replaces the TTL (`SECRETS_TTL_SECONDS`) and the least time between forced reads
    /// ([`FORCED_REFRESH_INTERVAL`]).
    pub fn with_timing(mut self, ttl: Duration, forced_interval: Duration) -> Self {
        self.ttl = ttl;
        self.forced_interval = forced_interval;
        self
    }

    /// Reads the secret again now — at most once per [`FORCED_REFRESH_INTERVAL`] — because the cached value
    /// looks stale. `Some` with the new value when it changed; `None` when it did not, could not be read, or
    /// a refresh was forced too recently.
    pub async fn refresh(&self) -> Option<Arc<T>> {
        self.source.as_ref()?;
        {
            let mut state = self.lock();
            if state
                .forced_at
                .is_some_and(|at| at.elapsed() < self.forced_interval)
            {
                return None;
            }
            state.forced_at = Some(Instant::now());
        }
        if self.reread().await {
            self.lock().value.as_ref().ok().cloned()
        } else {
            None
        }
    }

    /// Reads and, when the text changed, parses the secret again. `true` when the value changed.
    async fn reread(&self) -> bool {
        let Some(source) = &self.source else {
            return false;
        };
        let read = source.read(&self.variable).await;
        let mut state = self.lock();
        state.read_at = Instant::now();
        let raw = match read {
            Ok(raw) => raw,
            Err(error) => {
                tracing::warn!(error = %error, "re-reading a secret failed; keeping the cached value");
                return false;
            }
        };
        let unchanged = state
            .raw
            .as_ref()
            .is_some_and(|old| old.expose_secret() == raw.expose_secret());
        if unchanged {
            return false;
        }
        tracing::info!(variable = %self.variable, "a secret changed in Secrets Manager");
        state.value = parsed(&self.variable, source.parse, &raw);
        state.raw = Some(raw);
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // No code panics while holding it; a poisoned lock's data is still a whole value.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn parsed<T>(variable: &str, parse: Parse<T>, raw: &SecretString) -> Result<Arc<T>, NotSet> {
    let not_set = |reason: String| NotSet {
        variable: variable.to_owned(),
        reason,
    };
    if raw.expose_secret().is_empty() {
        return Err(not_set("it is empty".into()));
    }
    parse(raw).map(Arc::new).map_err(not_set)
}

impl<T> Source<T> {
    async fn read(&self, variable: &str) -> Result<SecretString, ConfigError> {
        read_text(&self.client, &self.arn, variable).await
    }
}

/// The text of secret `arn` (named `variable` in errors): a plain string, or the `key` of a JSON object; `""`
/// for `{"key": ""}` (not filled yet). A failed call or a binary secret is a [`ConfigError`].
pub async fn read_text(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    variable: &str,
) -> Result<SecretString, ConfigError> {
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| ConfigError::SecretsManager {
            name: variable.to_owned(),
            source: crate::adapters::sdk_error(e),
        })?;
    let raw = output.secret_string().ok_or_else(|| ConfigError::Invalid {
        name: variable.to_owned(),
        reason: "the secret has no string value".into(),
    })?;
    config::secret_text(raw).ok_or_else(|| ConfigError::Invalid {
        name: variable.to_owned(),
        reason: "expected a string or JSON {\"key\": \"…\"}".into(),
    })
}

/// A comma-separated list of signing secrets (several during a rotation), at least one.
pub fn secret_list(raw: &SecretString) -> Result<Vec<SecretString>, String> {
    let list = config::secret_list(raw);
    if list.is_empty() {
        return Err("no secret in the list".into());
    }
    Ok(list)
}

/// One secret as it is (an API key).
pub fn one(raw: &SecretString) -> Result<SecretString, String> {
    Ok(raw.clone())
}

impl<T> From<T> for Rotating<T> {
    fn from(value: T) -> Self {
        Self::fixed(value)
    }
}

impl<T> std::fmt::Debug for Rotating<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotating")
            .field("variable", &self.variable)
            .field("value", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fixed_secret_is_always_its_value_and_never_refreshes() {
        let secret = Rotating::fixed(7u32);
        assert_eq!(*secret.current().await.unwrap(), 7);
        assert!(secret.refresh().await.is_none());
    }

    #[test]
    fn an_empty_or_unparsable_value_is_not_set_and_names_the_variable() {
        let empty = parsed("X_ARN", secret_list, &SecretString::from(String::new())).unwrap_err();
        assert_eq!(empty.variable, "X_ARN");
        assert!(empty.to_string().contains("X_ARN"));
        assert!(empty.to_string().contains("entitle setup --apply"));
        let blank =
            parsed("X_ARN", secret_list, &SecretString::from(" , ".to_owned())).unwrap_err();
        assert_eq!(blank.reason, "no secret in the list");
        let two = parsed("X_ARN", secret_list, &SecretString::from("a,b".to_owned())).unwrap();
        assert_eq!(two.len(), 2);
    }
}
