//! The flags that bound connections in time (`--handshake-timeout-ms` and the flags after
//! it), flattened into [`crate::config::Config`].

use std::sync::Arc;
use std::time::Duration;

use super::budget::Budget;

/// How long a connection may take, or wait, at each stage.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// Milliseconds a new gRPC connection has to finish its TLS handshake (with --tls-cert)
    /// and send the HTTP/2 connection preface; a connection that has not is closed, so
    /// connections that send nothing do not hold the client's --max-connections-per-client.
    #[arg(long, env = "SQLITED_HANDSHAKE_TIMEOUT_MS", default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub handshake_timeout_ms: u64,

    /// Milliseconds an HTTP gateway client has to send a request's headers: the first
    /// request's from the moment it connects, each next one's from the end of the previous
    /// answer (a kept-alive connection waits no longer for its next request). Past it, the
    /// connection is closed.
    #[arg(long, env = "SQLITED_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,

    /// Milliseconds a request's body has to arrive whole, from its headers (sooner if the
    /// request's own deadline is: grpc-timeout, x-request-timeout-ms); past it the request is
    /// answered DEADLINE_EXCEEDED (HTTP 408, and the connection closed). A Session's
    /// messages are bound one by one: each has this long from its first bytes. While a body
    /// waits for bytes, its connection counts as idle.
    #[arg(long, env = "SQLITED_BODY_READ_TIMEOUT_MS", default_value_t = 30_000,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub body_read_timeout_ms: u64,

    /// Bytes of request bodies the whole server holds at once, both ports together (a body is
    /// charged its declared length, at most --max-message-bytes, until it is decoded); a
    /// body past it is refused at once with RESOURCE_EXHAUSTED (HTTP 503, Retry-After).
    /// 0: no limit.
    #[arg(long, env = "SQLITED_MAX_BODY_BYTES_IN_FLIGHT", default_value = "256MiB",
        value_parser = crate::config::parse_size)]
    pub max_body_bytes_in_flight: u64,

    /// Bytes of request bodies one connection holds at once (its streams together); a body
    /// past it is refused at once with RESOURCE_EXHAUSTED (HTTP 503, Retry-After). 0: no
    /// limit.
    #[arg(long, env = "SQLITED_MAX_BODY_BYTES_PER_CONNECTION", default_value = "64MiB",
        value_parser = crate::config::parse_size)]
    pub max_body_bytes_per_connection: u64,

    /// Milliseconds a connection may stay open with no request in flight; then it is closed,
    /// gracefully (HTTP/2 GOAWAY: a client reconnects and loses no call). A Session stream is
    /// a request in flight. 0: idle connections are closed only to make room under
    /// --max-connections-per-client.
    #[arg(long, env = "SQLITED_IDLE_TIMEOUT_MS", default_value_t = 300_000)]
    pub idle_timeout_ms: u64,

    /// Milliseconds between the HTTP/2 PINGs the server sends on each gRPC connection, busy
    /// or idle, to find clients that vanished without closing (a host that died, a dropped
    /// network path). 0: no PINGs.
    #[arg(long, env = "SQLITED_KEEPALIVE_INTERVAL_MS", default_value_t = 60_000)]
    pub keepalive_interval_ms: u64,

    /// Milliseconds a client has to answer a keep-alive PING before its connection, and every
    /// request on it, is closed.
    #[arg(long, env = "SQLITED_KEEPALIVE_TIMEOUT_MS", default_value_t = 20_000,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub keepalive_timeout_ms: u64,
}

/// The bounds every connection of a port is served under.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections per client; 0: no limit.
    pub per_client: usize,
    /// From accept to the end of the TLS handshake and the HTTP/2 preface.
    pub handshake: Duration,
    /// HTTP/1: for a request's headers.
    pub header_read: Duration,
    /// With no request in flight; `None`: no limit.
    pub idle: Option<Duration>,
    /// HTTP/2 PINGs: the interval and the answer's timeout; `None`: no PINGs.
    pub keepalive: Option<(Duration, Duration)>,
    /// For a request's body to arrive (a stream's: each message).
    pub body_read: Duration,
    /// `--max-message-bytes`: the most one body or message is charged.
    pub max_message: usize,
    /// Bytes of request bodies per connection (0: no limit).
    pub body_bytes_per_connection: usize,
    /// Bytes of request bodies in the process: one budget, shared by every port served
    /// with clones of these limits.
    pub body_bytes: Arc<Budget>,
}

fn bytes(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl ConnectionArgs {
    /// The bounds, with `per_client` connections per client and messages of at most
    /// `max_message` bytes.
    pub fn limits(&self, per_client: usize, max_message: usize) -> Limits {
        let ms = Duration::from_millis;
        Limits {
            per_client,
            handshake: ms(self.handshake_timeout_ms.max(1)),
            header_read: ms(self.header_read_timeout_ms.max(1)),
            idle: (self.idle_timeout_ms > 0).then(|| ms(self.idle_timeout_ms)),
            keepalive: (self.keepalive_interval_ms > 0).then(|| {
                (
                    ms(self.keepalive_interval_ms),
                    ms(self.keepalive_timeout_ms.max(1)),
                )
            }),
            body_read: ms(self.body_read_timeout_ms.max(1)),
            max_message,
            body_bytes_per_connection: bytes(self.max_body_bytes_per_connection),
            body_bytes: Budget::new(
                bytes(self.max_body_bytes_in_flight),
                "--max-body-bytes-in-flight",
            ),
        }
    }
}
