//! One port's accept loop, and the task that serves each of its connections under
//! [`Limits`]:
//!
//! 1. **Opening**, under one deadline from accept (`--handshake-timeout-ms`): the TLS
//!    handshake, then (gRPC) the HTTP/2 preface. A connection that has not finished by then is
//!    closed; an evicted one, or one open at shutdown, is closed at once.
//! 2. **Serving**, by hyper: HTTP/2 with keep-alive PINGs answered within
//!    `--keepalive-timeout-ms` (gRPC), or HTTP/1.1 whose every request head must arrive within
//!    `--header-read-timeout-ms` (the gateway); each request's body within
//!    `--body-read-timeout-ms` and the byte budgets ([`super::bodies`]).
//! 3. **Closing**: idle for `--idle-timeout-ms`, or evicted to make room for another
//!    connection of its client, a connection is shut down gracefully (HTTP/2 GOAWAY: requests
//!    already received are answered, and the client opens a new connection for its next
//!    ones). If it is still open and idle [`CLOSE_GRACE`] later — a peer that does not read
//!    the GOAWAY, or does not answer the PING after it, holds a graceful close forever —
//!    it is dropped. At the server's shutdown it is shut down gracefully too, bounded by the
//!    shutdown grace.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tonic::transport::server::TcpConnectInfo;

use super::Limits;
use super::accept::{Accepted, Backoff, accept};
use super::activity::{Activity, Track};
use super::bodies::{Bounded, Rules};
use super::budget::Budget;
use super::clients::{Admitted, Clients};
use super::framing::{Framing, MAX_HEAD};
use super::io::{Io, Prefixed, Stream};
use crate::listener::Socket;

/// How long a connection told to close (idle, or evicted) has, once idle, before it is
/// dropped: time for a client to read the GOAWAY and close, too short for one that does not
/// read to hold its descriptor.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// HTTP/2 flow control on the gRPC port: what a client may send ahead of the server's
/// reading, per stream and per connection (hyper's defaults, set here because the README's
/// limits table counts on them). Bytes past the window wait in the client.
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 1 << 20;
/// The largest header block a gRPC request may send (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE).
const MAX_HEADER_LIST: u32 = 16 << 10;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a port speaks.
pub enum Protocol {
    /// gRPC: HTTP/2 only, under TLS when given.
    Grpc(Option<TlsAcceptor>),
    /// The HTTP gateway: HTTP/1.1, plain.
    Http,
}

/// What hyper needs of a connection's service (a tower service over hyper's requests).
pub trait ConnectionService:
    tower::Service<
        Request<Bounded<Incoming>>,
        Response = Response<Self::Body>,
        Future: Send + 'static,
        Error: Into<BoxError> + Send + 'static,
    > + Clone
    + Send
    + 'static
{
    type Body: http_body::Body<Data: Send, Error: Into<BoxError>> + Unpin + Send + 'static;
}

impl<S, B> ConnectionService for S
where
    S: tower::Service<Request<Bounded<Incoming>>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    B: http_body::Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Body = B;
}

/// What every connection task of a port shares.
struct Port<M> {
    protocol: Protocol,
    limits: Limits,
    /// A new service for each connection (gRPC: its own concurrency limit).
    make: M,
    builder: Builder<TokioExecutor>,
}

/// Serves connections of `socket` with the services `make` builds, one per connection, until
/// `stop` completes; then stops accepting, shuts every connection down gracefully and returns
/// once all are closed.
pub async fn serve<M, S>(
    socket: Socket,
    protocol: Protocol,
    limits: Limits,
    make: M,
    stop: impl Future<Output = ()>,
) where
    M: Fn() -> S + Send + Sync + 'static,
    S: ConnectionService,
{
    let mut builder = Builder::new(TokioExecutor::new());
    match protocol {
        Protocol::Grpc(_) => {
            builder = builder.http2_only();
            let mut http2 = builder.http2();
            // As tonic's own server: no limit on streams, so requests past
            // --max-concurrent-requests-per-connection are refused with RESOURCE_EXHAUSTED
            // (the concurrency limit with load shedding) rather than queued by the client.
            http2
                .timer(TokioTimer::new())
                .max_concurrent_streams(None)
                .initial_stream_window_size(STREAM_WINDOW)
                .initial_connection_window_size(CONNECTION_WINDOW)
                .max_header_list_size(MAX_HEADER_LIST);
            if let Some((interval, timeout)) = limits.keepalive {
                http2
                    .keep_alive_interval(interval)
                    .keep_alive_timeout(timeout);
            }
        }
        Protocol::Http => {
            builder = builder.http1_only();
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read)
                // No head longer than the framing follows.
                .max_buf_size(MAX_HEAD);
        }
    }
    let port = Arc::new(Port {
        protocol,
        limits,
        make,
        builder,
    });
    let clients = Clients::new(port.limits.per_client);
    let (stopping, stop_rx) = watch::channel(false);
    // Each connection task holds a sender: all are gone when `recv` answers `None`.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    let mut stop = std::pin::pin!(stop);
    let mut backoff = Backoff::default();
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = accept(&socket) => accepted,
        };
        let Accepted {
            stream,
            peer,
            addresses,
        } = match accepted {
            Ok(accepted) => {
                backoff.accepted();
                accepted
            }
            Err(err) => {
                // Out of file descriptors and the like: waits (longer each time, logged once
                // a while), then goes on accepting; a stop ends the wait.
                tokio::select! {
                    () = &mut stop => break,
                    () = backoff.failed(&err) => continue,
                }
            }
        };
        // Refused: the stream drops, closed at once.
        let Some(admitted) = clients.admit(peer) else {
            continue;
        };
        tokio::spawn(connection(
            Arc::clone(&port),
            stream,
            addresses,
            admitted,
            stop_rx.clone(),
            alive.clone(),
        ));
    }
    // No new connection is accepted (the port is closed), and every open one is told to go.
    drop(socket);
    let _ = stopping.send(true);
    drop(alive);
    let _ = all_closed.recv().await;
}

/// Serves one connection from its opening to its close.
async fn connection<M, S>(
    port: Arc<Port<M>>,
    stream: Stream,
    addresses: TcpConnectInfo,
    admitted: Admitted,
    mut stop: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
) where
    M: Fn() -> S + Send + Sync + 'static,
    S: ConnectionService,
{
    let activity = Arc::clone(&admitted.activity);
    let framing = matches!(port.protocol, Protocol::Http).then(|| Arc::new(Framing::default()));
    let Some(io) = open(&port, stream, framing.clone(), &activity, &mut stop).await else {
        return;
    };
    let bodies = Rules {
        grpc: matches!(port.protocol, Protocol::Grpc(_)),
        timeout: port.limits.body_read,
        max_message: port.limits.max_message,
        connection: Budget::new(
            port.limits.body_bytes_per_connection,
            "--max-body-bytes-per-connection",
        ),
        process: Arc::clone(&port.limits.body_bytes),
    };
    let service = Track::new(
        (port.make)(),
        Arc::clone(&activity),
        addresses,
        framing,
        bodies,
    );
    let conn = port
        .builder
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    let mut conn = std::pin::pin!(conn);
    let idle_timeout = port.limits.idle;
    let mut stopping = false;
    // Told to go (idle, or evicted): dropped at this time if it is still open and idle.
    let mut closing_by: Option<Instant> = None;
    loop {
        let idle_since = activity.idle_since().map(Instant::from_std);
        let idle_at = match (closing_by, idle_timeout, idle_since) {
            (None, Some(timeout), Some(since)) if !stopping => Some(since + timeout),
            _ => None,
        };
        let drop_at = closing_by.filter(|_| idle_since.is_some());
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(err) = served {
                    tracing::debug!(error = %err, "connection closed with an error");
                }
                break;
            }
            () = activity.changed() => {}
            () = sleep_until(idle_at), if idle_at.is_some() => {}
            () = sleep_until(drop_at), if drop_at.is_some() => {
                tracing::debug!("dropping a connection that did not close when told to");
                break;
            }
            _ = stop.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                activity.close();
                conn.as_mut().graceful_shutdown();
            }
        }
        if closing_by.is_some() || stopping {
            continue;
        }
        let now = Instant::now();
        let idle_too_long = match (idle_timeout, activity.idle_since()) {
            (Some(timeout), Some(since)) => Instant::from_std(since) + timeout <= now,
            _ => false,
        };
        if activity.is_evicted() || idle_too_long {
            tracing::debug!(
                evicted = activity.is_evicted(),
                "closing a connection: idle for --idle-timeout-ms, or making room for another \
                 of its client"
            );
            activity.close();
            conn.as_mut().graceful_shutdown();
            closing_by = Some(now + CLOSE_GRACE);
        }
    }
    drop(admitted);
}

/// The connection's bytes once it has opened (TLS, the HTTP/2 preface) within the handshake
/// deadline; `None` when it did not, or was told to go first.
async fn open<M>(
    port: &Port<M>,
    stream: Stream,
    framing: Option<Arc<Framing>>,
    activity: &Activity,
    stop: &mut watch::Receiver<bool>,
) -> Option<Prefixed> {
    let handshake = async {
        match &port.protocol {
            Protocol::Http => Ok(Prefixed::followed(
                Io::Plain(stream),
                framing.unwrap_or_default(),
            )),
            Protocol::Grpc(tls) => {
                let io = match tls {
                    Some(acceptor) => Io::Tls(Box::new(acceptor.accept(stream).await?)),
                    None => Io::Plain(stream),
                };
                Prefixed::read_preface(io).await
            }
        }
    };
    tokio::select! {
        opened = tokio::time::timeout(port.limits.handshake, handshake) => match opened {
            Ok(Ok(io)) => Some(io),
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "a connection closed during its handshake");
                None
            }
            Err(_) => {
                tracing::debug!("closing a connection that did not finish its TLS handshake and \
                    HTTP/2 preface within --handshake-timeout-ms");
                None
            }
        },
        () = activity.evicted() => None,
        _ = stop.wait_for(|stop| *stop) => None,
    }
}

/// Sleeps until `at` (never, for `None`: the branch is disabled then).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
