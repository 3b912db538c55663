//! The request bodies, parsed into valid values or a 400 that says what is wrong.
use entitle_core::api_error::ApiError;
use entitle_domain::ids::{SubjectId, SubjectKind, UserId};
use entitle_domain::time::UnixTime;
use serde_json::Value;

pub const MAX_BODY_BYTES: usize = 16 * 1024;
pub const MAX_HOLD_SECONDS: i64 = 3600;
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message.into())
}

/// The body as a JSON object: at most 16 KiB, well-formed.
pub fn object(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(bad("body_too_large", "the body exceeds 16 KiB"));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad("malformed_body", "the body must be a JSON object")),
        Err(e) => Err(bad("malformed_body", format!("invalid JSON body: {e}"))),
    }
}

pub fn user(value: Option<&Value>) -> Result<SubjectId, ApiError> {
    let text = value.and_then(Value::as_str).ok_or_else(|| {
        bad(
            "invalid_user_id",
            "`subject` (a Clerk user or organization id; `userId` is its older name) is required",
        )
    })?;
    SubjectId::parse(text).map_err(|e| bad("invalid_user_id", format!("`subject`: {e}")))
}

/// Whom a request is for: `subject` (`user_…` or `org_…`), or `userId`, its name before organizations. Both
/// given must agree.
pub fn subject(subject: Option<&Value>, user_id: Option<&Value>) -> Result<SubjectId, ApiError> {
    match (subject, user_id) {
        (Some(a), Some(b)) if a != b => Err(bad(
            "conflicting_subject",
            "`subject` and `userId` name different subjects; send `subject` only",
        )),
        (Some(value), _) | (None, Some(value)) => user(Some(value)),
        (None, None) => user(None),
    }
}

/// `memberId`: the member of the organization `subject` a consume is for (their per-member caps apply). Only
/// with an organization: a user's limits have no members.
pub fn member(value: Option<&Value>, subject: &SubjectId) -> Result<Option<UserId>, ApiError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let text = value.as_str().ok_or_else(|| {
        bad(
            "invalid_member_id",
            "`memberId` must be a Clerk user id (user_…)",
        )
    })?;
    let member =
        UserId::parse(text).map_err(|e| bad("invalid_member_id", format!("`memberId`: {e}")))?;
    if subject.kind() != SubjectKind::Organization {
        return Err(bad(
            "member_needs_organization",
            "`memberId` names a member of an organization: send it with an organization's `subject` (org_…)",
        ));
    }
    Ok(Some(member))
}

pub fn feature(value: Option<&Value>) -> Result<String, ApiError> {
    value
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty() && f.len() <= 64)
        .map(str::to_owned)
        .ok_or_else(|| {
            bad(
                "invalid_feature",
                "`feature` (a limit or feature name) is required",
            )
        })
}

/// A non-zero integer; `default` when absent.
pub fn amount(value: Option<&Value>, default: Option<i64>) -> Result<i64, ApiError> {
    let amount = match value {
        None | Some(Value::Null) => default,
        Some(v) => v.as_i64(),
    };
    match amount {
        Some(0) => Err(bad("invalid_amount", "`amount` must not be 0")),
        Some(n) if n.unsigned_abs() <= 1_000_000_000_000 => Ok(n),
        Some(_) => Err(bad("invalid_amount", "`amount` is out of range")),
        None => Err(bad("invalid_amount", "`amount` must be a non-zero integer")),
    }
}

pub fn idempotency_key(value: Option<&Value>) -> Result<String, ApiError> {
    match value.and_then(Value::as_str) {
        Some(k) if !k.trim().is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY => Ok(k.to_owned()),
        Some(_) => Err(bad(
            "invalid_idempotency_key",
            "`idempotencyKey` must be 1 to 255 characters",
        )),
        None => Err(bad(
            "missing_idempotency_key",
            "`idempotencyKey` is required, so a retried call never counts twice",
        )),
    }
}

/// `hold: {"seconds": 1..3600}`, `None` without a hold.
pub fn hold(value: Option<&Value>) -> Result<Option<i64>, ApiError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    match value.get("seconds").and_then(Value::as_i64) {
        Some(s) if (1..=MAX_HOLD_SECONDS).contains(&s) => Ok(Some(s)),
        _ => Err(bad(
            "invalid_hold",
            "`hold.seconds` must be an integer from 1 to 3600",
        )),
    }
}

fn query_value(query: Option<&str>, name: &str) -> Option<Value> {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| Value::String(percent_decoded(v)))
}

/// `%XX` escapes decoded (a timestamp's `:` arrives as `%3A` from most clients); anything else as it is.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An instant from the query string (RFC 3339, UTC, e.g. `2026-12-07T10:00:00Z`), `None` when absent.
pub fn query_time(query: Option<&str>, name: &str) -> Result<Option<UnixTime>, ApiError> {
    match query_value(query, name) {
        None => Ok(None),
        Some(Value::String(text)) => UnixTime::parse_rfc3339(&text).map(Some).ok_or_else(|| {
            bad(
                "invalid_time",
                format!("`{name}` must be an RFC 3339 UTC instant such as 2026-12-07T10:00:00Z"),
            )
        }),
        Some(_) => Ok(None),
    }
}

/// `explain=true|false` (absent: false).
pub fn query_flag(query: Option<&str>, name: &str) -> Result<bool, ApiError> {
    match query_value(query, name).as_ref().and_then(Value::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(bad(
            "invalid_flag",
            format!("`{name}` must be true or false"),
        )),
    }
}

/// A page size `name` from 1 to `max` (absent: `default`).
pub fn query_limit(
    query: Option<&str>,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match query_value(query, name).as_ref().and_then(Value::as_str) {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(bad(
                "invalid_limit",
                format!("`{name}` must be an integer from 1 to {max}"),
            )),
        },
    }
}

/// `subject` (or `userId`) from the query string.
pub fn query_user(query: Option<&str>) -> Result<SubjectId, ApiError> {
    subject(
        query_value(query, "subject").as_ref(),
        query_value(query, "userId").as_ref(),
    )
}

/// `subject` (or `userId`) and the optional `memberId` from the query string.
pub fn query_member(query: Option<&str>) -> Result<(SubjectId, Option<UserId>), ApiError> {
    let subject = query_user(query)?;
    let member = member(query_value(query, "memberId").as_ref(), &subject)?;
    Ok((subject, member))
}

/// The limit an organization's seat count fills (written by the processor from Clerk's count).
pub const SEATS: &str = "seats";

/// `POST /v1/check`'s body, valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRequest {
    pub user: SubjectId,
    /// `memberId`: the organization's member asking (their caps apply too).
    pub member: Option<UserId>,
    pub feature: String,
    /// 1 when absent.
    pub amount: i64,
}

impl CheckRequest {
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        let body = object(bytes)?;
        let user = subject(body.get("subject"), body.get("userId"))?;
        Ok(Self {
            member: member(body.get("memberId"), &user)?,
            user,
            feature: feature(body.get("feature"))?,
            amount: amount(body.get("amount"), Some(1))?,
        })
    }
}

/// `POST /v1/usage`'s body, valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumeRequest {
    pub user: SubjectId,
    /// `memberId`: the organization's member consuming (their caps apply too).
    pub member: Option<UserId>,
    pub feature: String,
    pub amount: i64,
    pub idempotency_key: String,
    /// `hold.seconds`: hold the amount this long instead of consuming it now.
    pub hold_seconds: Option<i64>,
}

impl ConsumeRequest {
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        let body = object(bytes)?;
        let feature_name = feature(body.get("feature"))?;
        if feature_name == SEATS {
            return Err(bad(
                "seats_are_counted",
                "an organization's seats follow its members in Clerk and cannot be consumed; ask POST /v1/check {\"feature\": \"seats\"} before inviting",
            ));
        }
        let user = subject(body.get("subject"), body.get("userId"))?;
        Ok(Self {
            member: member(body.get("memberId"), &user)?,
            user,
            feature: feature_name,
            amount: amount(body.get("amount"), None)?,
            idempotency_key: idempotency_key(body.get("idempotencyKey"))?,
            hold_seconds: hold(body.get("hold"))?,
        })
    }
}

/// `POST /v1/usage/{usageId}/commit`'s body: the amount to record (checked against the hold later).
pub fn commit_amount(bytes: &[u8]) -> Result<i64, ApiError> {
    object(bytes)?
        .get("amount")
        .and_then(Value::as_i64)
        .ok_or_else(|| {
            bad(
                "invalid_amount",
                "`amount` (a non-negative integer, at most what was held) is required",
            )
        })
}
