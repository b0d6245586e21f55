//! The bytes of one connection: an accepted TCP or Unix stream, with or without TLS, and
//! what was read ahead of hyper (the HTTP/2 preface, read under the handshake deadline) served
//! back first.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::server::TlsStream;

use super::framing::Framing;

/// An accepted stream of either kind.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A stream, plain or under TLS.
pub enum Io {
    Plain(Stream),
    Tls(Box<TlsStream<Stream>>),
}

/// A connection's bytes: `ahead` first, then the stream's; an HTTP/1 connection's are
/// followed by its [`Framing`] as they are read.
pub struct Prefixed {
    ahead: Bytes,
    io: Io,
    framing: Option<Arc<Framing>>,
}

/// The client's HTTP/2 connection preface starts with these bytes (RFC 9113, 3.4); a
/// SETTINGS frame follows.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An HTTP/2 frame's header: length (3 bytes), type, flags, stream id (4 bytes).
const FRAME_HEADER: usize = 9;
/// The largest frame a client may send before it learns otherwise (SETTINGS_MAX_FRAME_SIZE's
/// initial value); a longer first frame is left to hyper to refuse.
const MAX_FIRST_FRAME: usize = 16_384;

impl Prefixed {
    /// `io` with nothing read ahead, its bytes followed by `framing`.
    pub fn followed(io: Io, framing: Arc<Framing>) -> Self {
        Self {
            ahead: Bytes::new(),
            io,
            framing: Some(framing),
        }
    }

    /// Reads the client's HTTP/2 connection preface — the fixed bytes and the SETTINGS frame
    /// after them — into `ahead`, for hyper to read again. Bytes that are not a preface stop
    /// the reading early: hyper answers them as it does any protocol error.
    ///
    /// # Errors
    /// The stream's, or `UnexpectedEof` when the client closed before the end of the preface.
    pub async fn read_preface(mut io: Io) -> io::Result<Self> {
        let mut read = Vec::with_capacity(PREFACE.len() + FRAME_HEADER + 64);
        let mut want = PREFACE.len() + FRAME_HEADER;
        while read.len() < want {
            let mut chunk = [0u8; 512];
            let n = io.read(&mut chunk[..(want - read.len()).min(512)]).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            read.extend_from_slice(&chunk[..n]);
            let fixed = read.len().min(PREFACE.len());
            if read[..fixed] != PREFACE[..fixed] {
                break;
            }
            if read.len() == PREFACE.len() + FRAME_HEADER && want == read.len() {
                let header = &read[PREFACE.len()..];
                let length = usize::from(header[0]) << 16
                    | usize::from(header[1]) << 8
                    | usize::from(header[2]);
                if length > MAX_FIRST_FRAME {
                    break;
                }
                want += length;
            }
        }
        Ok(Self {
            ahead: Bytes::from(read),
            io,
            framing: None,
        })
    }
}

/// Forwards one I/O call to the stream of either kind.
macro_rules! either {
    ($stream:expr, $s:ident => $call:expr) => {
        match $stream {
            Stream::Tcp($s) => $call,
            Stream::Unix($s) => $call,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        either!(self.get_mut(), s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        either!(self.get_mut(), s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        either!(self.get_mut(), s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        either!(self, s => s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self.get_mut(), s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self.get_mut(), s => Pin::new(s).poll_shutdown(cx))
    }
}

/// Forwards one I/O call to the stream, plain or under TLS.
macro_rules! layered {
    ($io:expr, $s:ident => $call:expr) => {
        match $io {
            Io::Plain($s) => $call,
            Io::Tls($s) => $call,
        }
    };
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        layered!(self.get_mut(), s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        layered!(self.get_mut(), s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        layered!(self.get_mut(), s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        layered!(self, s => s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        layered!(self.get_mut(), s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        layered!(self.get_mut(), s => Pin::new(s).poll_shutdown(cx))
    }
}

impl AsyncRead for Prefixed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.ahead.has_remaining() {
            let n = this.ahead.len().min(buf.remaining());
            buf.put_slice(&this.ahead[..n]);
            this.ahead.advance(n);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        std::task::ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if let Some(framing) = &this.framing {
            framing.read(&buf.filled()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// What `read_preface` keeps of `sent` (the client then closes).
    async fn ahead_of(sent: &[u8]) -> io::Result<Vec<u8>> {
        let (mut client, server) = UnixStream::pair()?;
        client.write_all(sent).await?;
        client.shutdown().await?;
        let mut prefixed = Prefixed::read_preface(Io::Plain(Stream::Unix(server))).await?;
        let kept = prefixed.ahead.to_vec();
        // What was read ahead is read again, then the rest of the stream.
        let mut all = Vec::new();
        prefixed.read_to_end(&mut all).await?;
        assert_eq!(all, sent);
        Ok(kept)
    }

    #[tokio::test]
    async fn the_preface_and_its_settings_frame_are_read_ahead() {
        // A SETTINGS frame with one setting (6 bytes), then a PING that is not read ahead.
        let settings = [&[0, 0, 6, 4, 0, 0, 0, 0, 0][..], &[0, 3, 0, 0, 0, 100]].concat();
        let ping = [0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        let sent = [PREFACE, &settings, &ping].concat();
        let kept = ahead_of(&sent).await.unwrap();
        assert_eq!(kept, [PREFACE, &settings].concat());
        // Not a preface: reading stops at the first byte that differs.
        let http1: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n0123456789";
        let kept = ahead_of(http1).await.unwrap();
        assert!(http1.starts_with(&kept) && kept.len() < http1.len());
        // A client that closes within the preface.
        let short = ahead_of(&PREFACE[..10]).await.unwrap_err();
        assert_eq!(short.kind(), io::ErrorKind::UnexpectedEof);
    }
}
