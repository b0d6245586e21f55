//! The flags that bound connections in time (`--handshake-timeout-ms` and the flags after
//! it), flattened into [`crate::config::Config`].

use std::time::Duration;

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
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections per client; 0: no limit.
    pub per_client: usize,
    /// From accept to the end of the TLS handshake and the HTTP/2 preface; also how long a
    /// connection closed for being idle (or evicted) has to go once told.
    pub handshake: Duration,
    /// HTTP/1: for a request's headers.
    pub header_read: Duration,
    /// With no request in flight; `None`: no limit.
    pub idle: Option<Duration>,
    /// HTTP/2 PINGs: the interval and the answer's timeout; `None`: no PINGs.
    pub keepalive: Option<(Duration, Duration)>,
}

impl ConnectionArgs {
    /// The bounds, with `per_client` connections per client.
    pub fn limits(&self, per_client: usize) -> Limits {
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
        }
    }
}
