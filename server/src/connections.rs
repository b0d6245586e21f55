//! Accepted connections, TCP or Unix: Nagle off on TCP, and at most
//! `--max-connections-per-client` open connections per client — per IP address over TCP, per
//! user id (the peer's credentials) over a Unix socket; past it a new connection is closed at
//! once and logged.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::listener::Socket;

/// Who a connection is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Peer {
    Ip(IpAddr),
    Uid(u32),
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Uid(uid) => write!(f, "uid {uid}"),
        }
    }
}

/// Open connections per client.
#[derive(Debug, Default)]
struct Counts(Mutex<HashMap<Peer, usize>>);

/// An accepted stream of either kind.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A connection, counted against its client while it is open.
pub struct Counted {
    inner: Stream,
    peer: Option<Peer>,
    counts: Arc<Counts>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(peer) = self.peer {
            let mut counts = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = counts.get_mut(&peer) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&peer);
                }
            }
        }
    }
}

/// The accepted connections of `listener`, limited to `per_client` open at once per client
/// (0: no limit).
pub fn incoming(
    listener: Socket,
    per_client: usize,
) -> impl tokio_stream::Stream<Item = io::Result<Counted>> {
    let counts = Arc::new(Counts::default());
    let accepted: Pin<Box<dyn tokio_stream::Stream<Item = io::Result<Stream>> + Send>> =
        match listener {
            Socket::Tcp(listener) => {
                Box::pin(TcpListenerStream::new(listener).map(|s| s.map(Stream::Tcp)))
            }
            Socket::Unix(listener) => {
                Box::pin(UnixListenerStream::new(listener).map(|s| s.map(Stream::Unix)))
            }
        };
    accepted.filter_map(move |stream| {
        let stream = match stream {
            Ok(stream) => stream,
            Err(err) => return Some(Err(err)),
        };
        let peer = match &stream {
            Stream::Tcp(stream) => {
                if let Err(err) = stream.set_nodelay(true) {
                    tracing::warn!(error = %err, "cannot set TCP_NODELAY");
                }
                stream.peer_addr().ok().map(|a| Peer::Ip(a.ip()))
            }
            Stream::Unix(stream) => stream.peer_cred().ok().map(|c| Peer::Uid(c.uid())),
        };
        if let Some(peer) = peer
            && per_client > 0
        {
            let mut open = counts.0.lock().unwrap_or_else(|p| p.into_inner());
            let n = open.entry(peer).or_default();
            if *n >= per_client {
                tracing::warn!(client = %peer, limit = per_client,
                    "connection refused: the client has --max-connections-per-client open");
                return None;
            }
            *n += 1;
        }
        Some(Ok(Counted {
            inner: stream,
            peer: peer.filter(|_| per_client > 0),
            counts: Arc::clone(&counts),
        }))
    })
}

impl Connected for Counted {
    /// TCP's, so `Request::remote_addr` works as tonic documents it; a Unix socket's peer
    /// has no address (`None`).
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        match &self.inner {
            Stream::Tcp(stream) => stream.connect_info(),
            Stream::Unix(_) => TcpConnectInfo {
                local_addr: None,
                remote_addr: None,
            },
        }
    }
}

/// Forwards one I/O call to the stream of either kind.
macro_rules! either {
    ($self:expr, $stream:ident => $call:expr) => {
        match &mut $self.inner {
            Stream::Tcp($stream) => $call,
            Stream::Unix($stream) => $call,
        }
    };
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        either!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        either!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        either!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Stream::Tcp(stream) => stream.is_write_vectored(),
            Stream::Unix(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}
