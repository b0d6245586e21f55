//! Turns tonic's answer to an oversized request (OUT_OF_RANGE, "decoded message length too
//! large") into RESOURCE_EXHAUSTED with a message naming the flag, like every other bound.

use http::{HeaderValue, Response};
use tonic::body::Body;
use tower::util::MapResponseLayer;

/// The layer, for `Server::builder().layer(..)`.
pub type OversizeLayer = MapResponseLayer<fn(Response<Body>) -> Response<Body>>;

/// A layer rewriting the status of requests refused for their size.
pub fn layer() -> OversizeLayer {
    MapResponseLayer::new(rewrite as fn(Response<Body>) -> Response<Body>)
}

fn rewrite(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    let oversized = headers.get("grpc-status").is_some_and(|s| s == "11")
        && headers
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| m.replace("%20", " ").contains("message length too large"));
    if oversized {
        headers.insert("grpc-status", HeaderValue::from_static("8"));
        headers.insert(
            "grpc-message",
            HeaderValue::from_static(
                "the request is larger than this server accepts (--max-message-bytes); send \
                 less per request, e.g. split a batch or bind large values in several statements",
            ),
        );
    }
    response
}
