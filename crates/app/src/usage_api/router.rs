//! Routes by the last path segments, whatever the prefix (stage, function URL, `cargo lambda watch`):
//! `POST …/v1/check`, `POST …/v1/usage`, `POST …/v1/usage/{usageId}/commit|release`, `GET …/v1/usage`,
//! `GET …/v1/entitlements[?at=&explain=]`, `GET …/v1/entitlements/history`, `GET …/v1/credits/ledger`. The API key is checked here, before anything else is read; errors become
//! statuses here and nowhere deeper.
use crate::history;
use crate::usage_api::deps::Deps;
use crate::usage_api::{request, usage};
use entitle_core::api_error::ApiError;
use entitle_core::edge;
use entitle_domain::time::UnixTime;
use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};

pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(handle_at(deps, &request, UnixTime::now()).await)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Check,
    Usage,
    Settle { usage_id: String, commit: bool },
    Entitlements,
    History,
    Ledger,
}

impl Route {
    fn of(path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        match segments.as_slice() {
            [.., "v1", "check"] => Some(Route::Check),
            [.., "v1", "usage"] => Some(Route::Usage),
            [.., "v1", "entitlements"] => Some(Route::Entitlements),
            [.., "v1", "entitlements", "history"] => Some(Route::History),
            [.., "v1", "credits", "ledger"] => Some(Route::Ledger),
            [.., "v1", "usage", id, action @ ("commit" | "release")] if !id.is_empty() => {
                Some(Route::Settle {
                    usage_id: (*id).to_owned(),
                    commit: *action == "commit",
                })
            }
            _ => None,
        }
    }

    fn allows(&self, method: &Method) -> bool {
        match self {
            Route::Check | Route::Settle { .. } => method == Method::POST,
            Route::Usage => method == Method::POST || method == Method::GET,
            Route::Entitlements | Route::History | Route::Ledger => method == Method::GET,
        }
    }

    fn allow_header(&self) -> &'static str {
        match self {
            Route::Check | Route::Settle { .. } => "POST",
            Route::Usage => "GET, POST",
            Route::Entitlements | Route::History | Route::Ledger => "GET",
        }
    }
}

/// The handler with the clock injected.
pub async fn handle_at(deps: &Deps, request: &Request, now: UnixTime) -> Response<Body> {
    let Some(route) = Route::of(request.uri().path()) else {
        return edge::error(&ApiError::not_found("not_found", "no such route"));
    };
    let authorization = edge::header(request, "authorization");
    let keys = match deps.keys.current().await {
        Ok(keys) => keys,
        Err(not_set) => {
            tracing::error!(error = %not_set, "cannot check API keys");
            return edge::error(&ApiError::not_configured());
        }
    };
    // An unknown key may be a new one that a rotation just stored: read the keys again (rate-limited).
    let admitted = keys.admits(authorization)
        || match deps.keys.refresh().await {
            Some(fresh) => fresh.admits(authorization),
            None => false,
        };
    if !admitted {
        // Which key was presented is never logged.
        tracing::info!("rejected a request without a valid API key");
        return edge::error(&ApiError::unauthorized(
            "a valid server API key is required: Authorization: Bearer <key>",
        ));
    }
    if !route.allows(request.method()) {
        let mut response = edge::error(&ApiError::method_not_allowed(format!(
            "use {}",
            route.allow_header()
        )));
        response.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static(route.allow_header()),
        );
        return response;
    }
    match dispatch(deps, request, route, now).await {
        Ok(body) => edge::json(StatusCode::OK, body),
        Err(error) => edge::error(&error),
    }
}

async fn dispatch(
    deps: &Deps,
    request: &Request,
    route: Route,
    now: UnixTime,
) -> Result<String, ApiError> {
    let bytes: &[u8] = request.body().as_ref();
    let user = || request::query_user(request.uri().query());
    match route {
        Route::Check => reply(usage::check(deps, &request::CheckRequest::parse(bytes)?, now).await),
        Route::Usage if request.method() == Method::GET => {
            let (subject, member) = request::query_member(request.uri().query())?;
            reply(usage::list(deps, &subject, member.as_ref(), now).await)
        }
        Route::Usage => {
            reply(usage::consume(deps, &request::ConsumeRequest::parse(bytes)?, now).await)
        }
        Route::Entitlements => {
            let query = request.uri().query();
            let at = request::query_time(query, "at")?;
            let explain = request::query_flag(query, "explain")?;
            if at.is_none() && !explain {
                let answer = usage::entitlements(deps, &user()?, now).await;
                return reply(answer.map(|e| deps.catalog.with_words(e)));
            }
            let sources = (deps.history.as_ref(), &deps.catalog);
            reply(history::at(sources, &user()?, at.unwrap_or(now), explain).await)
        }
        Route::History => {
            let query = request.uri().query();
            let from = request::query_time(query, "from")?.unwrap_or(UnixTime::from_secs(0));
            let to = request::query_time(query, "to")?.unwrap_or(now);
            reply(history::history(deps.history.as_ref(), &user()?, from, to).await)
        }
        Route::Ledger => {
            let limit =
                request::query_limit(request.uri().query(), "limit", 100, usage::MAX_LEDGER)?;
            reply(usage::ledger(deps, &user()?, limit, now).await)
        }
        Route::Settle { usage_id, commit } => {
            // A release ignores its body; a commit's is read (and must be a JSON object) before the hold.
            let amount = if commit {
                Some(request::commit_amount(bytes)?)
            } else {
                request::object(bytes)?;
                None
            };
            reply(usage::settle(deps, &usage_id, amount, now).await)
        }
    }
}

fn reply<T: serde::Serialize>(answer: Result<T, ApiError>) -> Result<String, ApiError> {
    answer.map(|body| serde_json::to_string(&body).expect("an answer is plain data"))
}

#[cfg(test)]
mod tests {
    use super::Route;

    #[test]
    fn routes_match_on_their_last_segments_whatever_the_prefix() {
        for prefix in ["", "/prod", "/lambda-url/usage-api"] {
            assert_eq!(Route::of(&format!("{prefix}/v1/check")), Some(Route::Check));
            assert_eq!(
                Route::of(&format!("{prefix}/v1/usage/")),
                Some(Route::Usage)
            );
            assert_eq!(
                Route::of(&format!("{prefix}/v1/usage/u_abc/commit")),
                Some(Route::Settle {
                    usage_id: "u_abc".into(),
                    commit: true
                })
            );
        }
        assert_eq!(Route::of("/v1/usage/u_abc/delete"), None);
        assert_eq!(Route::of("/v2/check"), None);
    }
}
