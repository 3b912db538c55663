//! Retryable or permanent: the one rule for what the APIs we call (Stripe, Clerk, Clerk's JWKS) answer, so
//! whether a caller retries never depends on which client failed.
//!
//! Beyond the status codes below, every client treats alike: a connection failure or a timeout is
//! retryable; a 2xx whose body is not what the API documents (a proxy's page, a cut-off body) is retryable,
//! because the effect may have happened and only a retry can confirm it; a request that could not even be
//! built (a bad base URL or header value) is permanent.
use http::StatusCode;

/// What an answer's status means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Success,
    /// Try again later (with the same idempotency key, for a write).
    Retryable,
    /// Retrying cannot fix it.
    Permanent,
}

/// How an API means `409 Conflict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// Stripe: another request with the same idempotency key is still running, or a lock timed out; both
    /// pass.
    Transient,
    /// Clerk: the request contradicts the resource's state (e.g. a duplicate), whatever the timing.
    Permanent,
}

/// 2xx succeed; 5xx, 429 and a transient 409 are retryable; every other status is permanent.
pub fn status(status: StatusCode, conflict: Conflict) -> Class {
    if status.is_success() {
        Class::Success
    } else if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::CONFLICT && conflict == Conflict::Transient)
    {
        Class::Retryable
    } else {
        Class::Permanent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(code: u16, conflict: Conflict) -> Class {
        status(StatusCode::from_u16(code).unwrap(), conflict)
    }

    #[test]
    fn server_errors_and_rate_limits_are_retryable_for_every_api() {
        for conflict in [Conflict::Transient, Conflict::Permanent] {
            for code in [500, 502, 503, 504, 429] {
                assert_eq!(class(code, conflict), Class::Retryable, "{code}");
            }
            for code in [400, 401, 403, 404, 422] {
                assert_eq!(class(code, conflict), Class::Permanent, "{code}");
            }
            assert_eq!(class(200, conflict), Class::Success);
        }
    }

    #[test]
    fn a_conflict_is_retryable_only_where_the_api_means_it_as_transient() {
        assert_eq!(class(409, Conflict::Transient), Class::Retryable);
        assert_eq!(class(409, Conflict::Permanent), Class::Permanent);
    }
}
