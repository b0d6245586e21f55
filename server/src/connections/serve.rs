//! One port's accept loop, and the task that serves each of its connections under
//! [`Limits`]:
//!
//! 1. **Opening**, under one deadline from accept (`--handshake-timeout-ms`): the TLS
//!    handshake, then (gRPC) the HTTP/2 preface. A connection that has not finished by then is
//!    closed; an evicted one, or one open at shutdown, is closed at once.
//! 2. **Serving**, by hyper: HTTP/2 with keep-alive PINGs answered within
//!    `--keepalive-timeout-ms` (gRPC), or HTTP/1.1 whose every request head must arrive within
//!    `--header-read-timeout-ms` (the gateway).
//! 3. **Closing**: idle for `--idle-timeout-ms`, or evicted to make room for another
//!    connection of its client, a connection is shut down gracefully (HTTP/2 GOAWAY: requests
//!    already received are answered, and the client opens a new connection for its next
//!    ones). If it is still open and idle a handshake timeout later, it is dropped. At the
//!    server's shutdown it is shut down gracefully too, bounded by the shutdown grace.

use std::future::Future;
use std::io;
use std::sync::Arc;

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
use super::activity::{Activity, Track};
use super::clients::{Admitted, Clients, Peer};
use super::framing::{Framing, MAX_HEAD};
use super::io::{Io, Prefixed, Stream};
use crate::listener::Socket;

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
        Request<Incoming>,
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
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
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
            http2.timer(TokioTimer::new()).max_concurrent_streams(None);
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
    let clients = Clients::new(limits.per_client);
    let (stopping, stop_rx) = watch::channel(false);
    // Each connection task holds a sender: all are gone when `recv` answers `None`.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    let mut stop = std::pin::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = accept(&socket) => accepted,
        };
        match accepted {
            Ok((stream, peer, addresses)) => {
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
            // The client gave up before we accepted: nothing to do.
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                ) => {}
            Err(err) => {
                // Out of file descriptors and the like: wait, then go on accepting.
                tracing::warn!(error = %err, "cannot accept a connection");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    // No new connection is accepted (the port is closed), and every open one is told to go.
    drop(socket);
    let _ = stopping.send(true);
    drop(alive);
    let _ = all_closed.recv().await;
}

/// The next connection: its stream, its client and its addresses.
async fn accept(socket: &Socket) -> io::Result<(Stream, Option<Peer>, TcpConnectInfo)> {
    match socket {
        Socket::Tcp(listener) => {
            let (stream, remote) = listener.accept().await?;
            if let Err(err) = stream.set_nodelay(true) {
                tracing::warn!(error = %err, "cannot set TCP_NODELAY");
            }
            let addresses = TcpConnectInfo {
                local_addr: stream.local_addr().ok(),
                remote_addr: Some(remote),
            };
            Ok((Stream::Tcp(stream), Some(Peer::Ip(remote.ip())), addresses))
        }
        Socket::Unix(listener) => {
            let (stream, _) = listener.accept().await?;
            let peer = stream.peer_cred().ok().map(|c| Peer::Uid(c.uid()));
            let addresses = TcpConnectInfo {
                local_addr: None,
                remote_addr: None,
            };
            Ok((Stream::Unix(stream), peer, addresses))
        }
    }
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
    let service = Track::new((port.make)(), Arc::clone(&activity), addresses, framing);
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
            closing_by = Some(now + port.limits.handshake);
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
