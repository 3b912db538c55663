//! Success, cancel and return URLs must land on one of our own origins: no open redirects through Stripe.

/// The `scheme://host[:port]` of an absolute http(s) URL; `None` for anything else, including URLs with
/// credentials (`https://ours.example@evil.example/`) or backslashes that browsers read as slashes.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains(['@', '\\']) || url.contains(char::is_whitespace)
    {
        return None;
    }
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// `ALLOWED_REDIRECT_ORIGINS`, normalized.
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    pub fn parse(list: &str) -> Self {
        Self(
            list.split(',')
                .filter_map(|o| origin(o.trim().trim_end_matches('/')))
                .collect(),
        )
    }

    pub fn allows_url(&self, url: &str) -> bool {
        origin(url).is_some_and(|o| self.0.contains(&o))
    }

    pub fn allows_origin(&self, origin_header: &str) -> bool {
        origin(origin_header).is_some_and(|o| self.0.contains(&o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_urls_on_an_allowed_origin_pass() {
        let allowed = AllowedOrigins::parse("https://app.example.com, http://localhost:3000/");
        assert!(allowed
            .allows_url("https://app.example.com/billing/success?session={CHECKOUT_SESSION_ID}"));
        assert!(allowed.allows_url("HTTPS://APP.example.com"));
        assert!(allowed.allows_url("http://localhost:3000/x"));
        for url in [
            "https://evil.example.com/",
            "https://app.example.com.evil.example/",
            "https://app.example.com@evil.example/",
            "https://app.example.com:8443/",
            "http://app.example.com/",
            "javascript:alert(1)",
            "//app.example.com/x",
            "/relative",
            "https://app.example.com\\@evil.example",
            "",
        ] {
            assert!(!allowed.allows_url(url), "{url}");
        }
    }
}
