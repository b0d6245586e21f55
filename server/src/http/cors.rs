//! Browsers: CORS for the origins of `--http-cors-origins`, none by default.
//!
//! A request that carries an `Origin` header (only browsers send one) from an origin not
//! listed is refused with 403 before it runs, so a web page cannot use a browser on the
//! server's network to reach the gateway (cross-site requests, DNS rebinding) — not even
//! with a "simple" request that skips the preflight. A listed origin gets its preflight
//! answered and `Access-Control-Allow-Origin` on every answer. `*` allows every origin, and is
//! answered `*`. `Access-Control-Allow-Credentials` is never sent: tokens travel in the
//! `Authorization` header a script sets, not in cookies, so no origin ever needs it, and `*`
//! is never paired with credentials.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Which origins may call from a browser.
#[derive(Debug, Clone, Default)]
pub enum Cors {
    /// None (the default): a request with an `Origin` header is refused.
    #[default]
    Off,
    /// Every origin (`--http-cors-origins '*'`).
    Any,
    /// These exact origins (`https://app.example.com`).
    Origins(Vec<String>),
}

/// The request headers a browser may send.
const ALLOW_HEADERS: &str =
    "authorization, content-type, accept, x-request-id, x-request-timeout-ms";
/// The response headers a script may read.
const EXPOSE_HEADERS: &str = "x-request-id, retry-after";

impl Cors {
    /// The policy of `--http-cors-origins`: `*` alone, or origins such as
    /// `https://app.example.com` (scheme, host, optional port; no path).
    pub fn parse(origins: &[String]) -> Result<Self, String> {
        let origins: Vec<String> = origins
            .iter()
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
            .collect();
        if origins.is_empty() {
            return Ok(Self::Off);
        }
        if origins.iter().any(|o| o == "*") {
            if origins.len() > 1 {
                return Err("--http-cors-origins: `*` allows every origin; give it alone".into());
            }
            return Ok(Self::Any);
        }
        for origin in &origins {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let valid = rest.is_some_and(|r| {
                !r.is_empty()
                    && r.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
            });
            if !valid {
                return Err(format!(
                    "--http-cors-origins: {origin:?} is not an origin; write it as a browser \
                     sends it, e.g. https://app.example.com or http://localhost:8080 (no path, \
                     no trailing slash)"
                ));
            }
        }
        Ok(Self::Origins(origins))
    }

    /// Whether a browser page of `origin` may call.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            Self::Off => false,
            Self::Any => true,
            Self::Origins(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }

    /// Adds the CORS headers of an answer to an allowed `origin`.
    pub fn decorate(&self, origin: &str, headers: &mut HeaderMap) {
        let allowed = match self {
            Self::Any => HeaderValue::from_static("*"),
            _ => match HeaderValue::from_str(origin) {
                Ok(value) => value,
                Err(_) => return,
            },
        };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }

    /// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`) from an
    /// allowed `origin`.
    pub fn preflight(&self, origin: &str) -> Response {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        self.decorate(origin, headers);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        response
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn policies() {
        let list = |v: &[&str]| Cors::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(matches!(list(&[]), Ok(Cors::Off)));
        assert!(matches!(list(&["*"]), Ok(Cors::Any)));
        assert!(list(&["*", "https://a.example"]).is_err());
        assert!(list(&["https://a.example/"]).is_err());
        assert!(list(&["a.example"]).is_err());
        let cors = list(&["https://a.example", "http://localhost:8080"]).unwrap();
        assert!(cors.allows("https://a.example"));
        assert!(!cors.allows("https://b.example"));
        assert!(!Cors::Off.allows("https://a.example"));
        let mut headers = HeaderMap::new();
        Cors::Any.decorate("https://x.example", &mut headers);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
    }
}
