//! Headers a request may give once, given twice: the server would read one of them, and a
//! proxy in front may have read the other. Refused on both ports — 400 on the gateway,
//! INVALID_ARGUMENT on the gRPC port — naming the header; one of each is served.

use super::raw::{H2, http1_until_closed, post_head};
use crate::harness::Server;

const BODY: &str = r#"{"sql": "SELECT 1"}"#;

/// A request to the gateway with `headers` (each ending in CRLF) and a body of its own
/// Content-Length unless `headers` gives one; the answer.
async fn gateway(addr: std::net::SocketAddr, headers: &str) -> String {
    let length = if headers.to_ascii_lowercase().contains("content-length") {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", BODY.len())
    };
    let head = post_head(&format!("{headers}{length}Connection: close\r\n"));
    http1_until_closed(addr, format!("{head}{BODY}").as_bytes()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_singleton_headers_given_twice_are_refused() {
    let (server, addr) = crate::gateway::start(&[]);
    server.ensure_database("app");
    let n = BODY.len();
    for (headers, named) in [
        // post_head gives Host and Content-Type once already.
        ("Host: other\r\n".to_string(), "\"host\""),
        ("Content-Type: text/plain\r\n".to_string(), "\"content-type\""),
        (
            "Authorization: Bearer a\r\nAuthorization: Bearer b\r\n".to_string(),
            "\"authorization\"",
        ),
        ("x-request-id: a\r\nx-request-id: b\r\n".to_string(), "\"x-request-id\""),
        (
            "x-request-timeout-ms: 100\r\nx-request-timeout-ms: 60000\r\n".to_string(),
            "\"x-request-timeout-ms\"",
        ),
        (
            format!("Content-Length: {n}\r\nContent-Length: {n}\r\n"),
            "several Content-Length",
        ),
        // Different lengths: hyper refuses these itself, with a bare 400.
        (format!("Content-Length: {n}\r\nContent-Length: 1\r\n"), ""),
    ] {
        let answer = gateway(addr, &headers).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{headers}: {answer}");
        assert!(answer.contains(named), "{headers}: {answer}");
    }
    let served = gateway(addr, "Authorization: Bearer a\r\nx-request-id: a\r\n").await;
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_metadata_read_once_given_twice_is_refused() {
    let server = Server::start();
    server.ensure_database("app");
    let mut h2 = H2::connect(server.addr()).await;
    for (name, first, second) in [
        ("authorization", "Bearer a", "Bearer b"),
        ("grpc-timeout", "100m", "60S"),
        ("x-request-id", "a", "b"),
        // The call itself gives one already.
        ("content-type", "application/grpc", ""),
    ] {
        let mut extra = vec![(name, first)];
        if !second.is_empty() {
            extra.push((name, second));
        }
        let answer = h2.query(&extra).await;
        assert_eq!(answer.code(), "3", "{name}: {answer:?}");
        assert!(answer.message().contains(&format!("{name:?}")), "{name}: {answer:?}");
    }
    let served = h2.query(&[("x-request-id", "a"), ("grpc-timeout", "60S")]).await;
    assert_eq!(served.code(), "0", "{served:?}");
}
