//! Request ids: every answer of the gRPC port carries `x-request-id`, its own refusals and
//! tonic's (authentication, load shedding, the codec, an unknown method) as much as a
//! handler's.
//!
//! [`RequestIdLayer`] is the outermost layer of each connection's stack: it settles the
//! request's id once (the client's `x-request-id` if usable, else a new one), writes it back
//! into the request's headers so that every layer and handler inside reads the same one
//! ([`of`]), and puts it on the response's headers, whoever built the response.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderValue, Request, Response};
use tower::{Layer, Service};

/// The header both ways.
pub const HEADER: &str = "x-request-id";

/// The id of a request whose `x-request-id` header is `sent`: that one if it is usable (1 to
/// 64 letters, digits and `-_.:`), else a new one.
pub fn request_id(sent: Option<&str>) -> String {
    sent.filter(|id| usable(id))
        .map_or_else(new_request_id, str::to_string)
}

/// The id of a request that passed [`RequestIdLayer`] (a new one if it did not).
pub fn of(headers: &HeaderMap) -> String {
    request_id(headers.get(HEADER).and_then(|v| v.to_str().ok()))
}

fn usable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// A new request id: this process's start and a counter, short and unique per server run.
fn new_request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("{:x}-{:x}", started, std::process::id())
    });
    format!("{prefix}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The layer, outermost on each connection.
#[derive(Clone, Copy, Default)]
pub struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIds<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIds { inner }
    }
}

/// The service [`RequestIdLayer`] wraps around a connection's stack.
#[derive(Clone)]
pub struct RequestIds<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for RequestIds<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // Given twice, the header is left as sent, for the refusal of headers given twice
        // (`connections::singletons`, in the auth layer); the answer gets an id of its own.
        let twice = request.headers().get_all(HEADER).iter().nth(1).is_some();
        let id = if twice {
            request_id(None)
        } else {
            of(request.headers())
        };
        // Valid by construction: letters, digits and `-_.:` only.
        let value = HeaderValue::from_str(&id).ok();
        if let Some(value) = value.clone().filter(|_| !twice) {
            request.headers_mut().insert(HEADER, value);
        }
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            if let Some(value) = value {
                response.headers_mut().insert(HEADER, value);
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usable_id_is_kept_and_any_other_replaced() {
        assert_eq!(request_id(Some("abc-1.2:3_x")), "abc-1.2:3_x");
        for bad in ["", "a b", "é", "x/y", &"a".repeat(65)] {
            let id = request_id(Some(bad));
            assert_ne!(id, bad);
            assert!(usable(&id), "{id}");
        }
        assert_ne!(request_id(None), request_id(None));
    }
}
