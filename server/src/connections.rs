//! Accepted TCP connections: Nagle off, and at most `--max-connections-per-client` open
//! connections per client address; past it a new connection is closed at once and logged.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Open connections per client address.
#[derive(Debug, Default)]
struct Counts(Mutex<HashMap<IpAddr, usize>>);

/// A connection, counted against its client's address while it is open.
pub struct Counted {
    inner: TcpStream,
    peer: Option<IpAddr>,
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

/// The accepted connections of `listener`, limited to `per_client` open at once per
/// address (0: no limit).
pub fn incoming(
    listener: TcpListener,
    per_client: usize,
) -> impl tokio_stream::Stream<Item = io::Result<Counted>> {
    use tokio_stream::StreamExt;
    let counts = Arc::new(Counts::default());
    TcpListenerStream::new(listener).filter_map(move |stream| {
        let stream = match stream {
            Ok(stream) => stream,
            Err(err) => return Some(Err(err)),
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::warn!(error = %err, "cannot set TCP_NODELAY");
        }
        let peer = stream.peer_addr().ok().map(|a| a.ip());
        if let Some(ip) = peer
            && per_client > 0
        {
            let mut open = counts.0.lock().unwrap_or_else(|p| p.into_inner());
            let n = open.entry(ip).or_default();
            if *n >= per_client {
                tracing::warn!(client = %ip, limit = per_client,
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
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
