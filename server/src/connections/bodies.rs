//! Request bodies bounded in time and in bytes, on both ports. Each request's body is wrapped
//! ([`Bounded`]) as its connection's service receives it:
//!
//! - **Time.** A body must arrive whole within `--body-read-timeout-ms` of its headers (or
//!   by the request's own deadline, `grpc-timeout` or `x-request-timeout-ms`, if sooner);
//!   past it the body fails, and the request is answered DEADLINE_EXCEEDED (HTTP 408, the
//!   connection closed). A stream whose client may pause between messages (a Session, which
//!   says so through [`super::Quiet::streams`]) is bound message by message instead: each
//!   message, once begun, must arrive whole within the timeout.
//! - **Idleness.** While a body waits for bytes the client does not send, its request does
//!   not make the connection busy: for `--idle-timeout-ms` and for the per-client cap's
//!   choice of the connection to close, a connection waiting on its client is idle.
//! - **Bytes** ([`super::budget`]). A body's bytes are charged as they are declared (HTTP's
//!   `Content-Length`, a gRPC message's length prefix: the decoder reserves that much) or,
//!   without a declaration, as they arrive; past its connection's or the process's budget
//!   the body fails at once, RESOURCE_EXHAUSTED (HTTP 503 with Retry-After). A gRPC
//!   message's bytes are handed back once it is whole (it is decoded then); an HTTP body's
//!   when the body is dropped (after it was parsed).
//!
//! The failure is a [`tonic::Status`] as the body's error: tonic answers it as is, and the
//! gateway finds it in the error it reads ([`refusal`]).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::budget::{Budget, Charge, Exhausted};
use crate::error::Error;

/// What a bounded body tells its request's place among the connection's requests
/// (`activity::Held`): that it waits on its client, and whether it is a stream of messages.
pub(super) trait Waits: Send + Sync {
    /// The request waits on its client's next bytes (it does not keep its connection busy),
    /// or no longer does.
    fn waiting(&self, waiting: bool);
    /// Whether the request said its body is a stream of messages (a Session).
    fn streams(&self) -> bool;
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The rules of one connection's request bodies.
#[derive(Debug, Clone)]
pub struct Rules {
    /// gRPC: bodies are length-prefixed messages.
    pub grpc: bool,
    /// `--body-read-timeout-ms`.
    pub timeout: Duration,
    /// `--max-message-bytes`: no more is charged for one message or body (the decoder or
    /// the gateway refuses a larger one itself, with its own message).
    pub max_message: usize,
    /// The connection's budget, and the process's.
    pub connection: Arc<Budget>,
    pub process: Arc<Budget>,
}

/// A request's body under [`Rules`].
pub struct Bounded<B> {
    inner: B,
    grpc: bool,
    timeout: Duration,
    max_message: usize,
    /// The whole body's deadline (none for a stream, bound by message).
    deadline: Instant,
    /// Armed while a deadline applies: the whole body's, or the current message's.
    timer: Option<Pin<Box<Sleep>>>,
    /// The request's place on its connection: idle while the body waits on the client.
    held: Arc<dyn Waits>,
    waiting: bool,
    charge: Charge,
    /// HTTP: the declared length, charged at the first poll.
    declared: Option<u64>,
    /// HTTP: bytes received.
    received: u64,
    /// gRPC: where the bytes are in the current message.
    message: Message,
    started: bool,
    /// Set once the body failed: it ends then.
    failed: bool,
}

/// Where a gRPC body's bytes are: in a message's 5-byte prefix, or in its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Message {
    Prefix { have: usize, length: [u8; 4] },
    Payload { left: u64, charged: usize },
}

impl Message {
    const START: Self = Self::Prefix {
        have: 0,
        length: [0; 4],
    };
}

impl<B> Bounded<B> {
    /// `inner`, the body of a request with `headers`, under `rules`.
    pub(super) fn new(
        inner: B,
        headers: &http::HeaderMap,
        rules: &Rules,
        held: Arc<dyn Waits>,
    ) -> Self {
        let own = if rules.grpc {
            headers
                .get("grpc-timeout")
                .and_then(|v| v.to_str().ok())
                .and_then(crate::deadline::parse_grpc_timeout)
        } else {
            headers
                .get(crate::deadline::TIMEOUT_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .map(Duration::from_millis)
        };
        let within = own.map_or(rules.timeout, |own| own.min(rules.timeout));
        let declared = (!rules.grpc)
            .then(|| headers.get(http::header::CONTENT_LENGTH))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Self {
            inner,
            grpc: rules.grpc,
            timeout: rules.timeout,
            max_message: rules.max_message,
            deadline: Instant::now() + within,
            timer: None,
            held,
            waiting: false,
            charge: Charge::new(Arc::clone(&rules.connection), Arc::clone(&rules.process)),
            declared,
            received: 0,
            message: Message::START,
            started: false,
            failed: false,
        }
    }

    /// Whether the body is bound message by message (a stream), rather than whole.
    fn by_message(&self) -> bool {
        self.grpc && self.held.streams()
    }

    fn wait(&mut self, waiting: bool) {
        // A stream says itself when it is quiet.
        if self.waiting != waiting && !self.by_message() {
            self.held.waiting(waiting);
            self.waiting = waiting;
        }
    }

    /// The body's failure, as its error.
    fn fail(&mut self, error: Error) -> Poll<Option<Result<Frame<B::Data>, BoxError>>>
    where
        B: Body,
    {
        self.failed = true;
        self.timer = None;
        self.wait(false);
        self.charge.release(self.charge.held());
        Poll::Ready(Some(Err(Box::new(error.into_status(None)))))
    }

    fn stalled(&self) -> Error {
        Error::DeadlineExceeded(if self.by_message() {
            "a message of the stream did not arrive whole within --body-read-timeout-ms \
             of its first bytes; send each message at once"
                .to_string()
        } else {
            format!(
                "the request's body did not arrive whole within {} ms of its headers \
                 (--body-read-timeout-ms, or the request's deadline if sooner); send the \
                 body with the request",
                self.timeout.as_millis()
            )
        })
    }

    fn over_budget(exhausted: Exhausted) -> Error {
        let Exhausted { flag, limit } = exhausted;
        let why = if flag.contains("per-connection") {
            "this connection's requests hold"
        } else {
            "the server's requests hold"
        };
        Error::ResourceExhausted {
            message: format!(
                "{why} {limit} bytes of request bodies already ({flag}); retry shortly, or \
                 send fewer large requests at a time"
            ),
            retryable: true,
        }
    }

    /// Charges a data frame's bytes; the error to fail with.
    fn account(&mut self, mut data: &[u8]) -> Result<(), Error> {
        if !self.grpc {
            self.received += data.len() as u64;
            let charged = self.charge.held() as u64;
            if self.received > charged && charged < self.max_message as u64 {
                let more = (self.received - charged).min(self.max_message as u64 - charged);
                self.charge.grow(more as usize).map_err(Self::over_budget)?;
            }
            return Ok(());
        }
        let by_message = self.by_message();
        while !data.is_empty() {
            match &mut self.message {
                Message::Prefix { have, length } => {
                    if *have == 0 && by_message {
                        // A message begins: it has the timeout to arrive whole.
                        self.timer = Some(Box::pin(tokio::time::sleep(self.timeout)));
                    }
                    // The compression flag, then 4 bytes of length.
                    let take = (5 - *have).min(data.len());
                    for (i, byte) in data[..take].iter().enumerate() {
                        if *have + i >= 1 {
                            length[*have + i - 1] = *byte;
                        }
                    }
                    *have += take;
                    data = &data[take..];
                    if *have == 5 {
                        let left = u64::from(u32::from_be_bytes(*length));
                        let charged = left.min(self.max_message as u64) as usize;
                        self.charge.grow(charged).map_err(Self::over_budget)?;
                        self.message = Message::Payload { left, charged };
                    }
                }
                Message::Payload { left, .. } => {
                    let take = (*left).min(data.len() as u64);
                    *left -= take;
                    data = &data[take as usize..];
                }
            }
            if let Message::Payload { left: 0, charged } = self.message {
                // Whole: the decoder has it, and decodes it now.
                self.charge.release(charged);
                self.message = Message::START;
                if by_message {
                    self.timer = None;
                }
            }
        }
        Ok(())
    }
}

impl<B> Body for Bounded<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        if !this.started {
            this.started = true;
            if !this.by_message() {
                this.timer = Some(Box::pin(tokio::time::sleep_until(this.deadline)));
            }
            if let Some(declared) = this.declared {
                let charged = declared.min(this.max_message as u64) as usize;
                if let Err(exhausted) = this.charge.grow(charged) {
                    return this.fail(Self::over_budget(exhausted));
                }
            }
        }
        if let Some(timer) = &mut this.timer
            && timer.as_mut().poll(cx).is_ready()
        {
            let stalled = this.stalled();
            return this.fail(stalled);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                this.wait(true);
                Poll::Pending
            }
            Poll::Ready(Some(Ok(frame))) => {
                this.wait(false);
                if let Some(data) = frame.data_ref()
                    && let Err(err) = this.account(data)
                {
                    return this.fail(err);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => {
                this.wait(false);
                Poll::Ready(Some(Err(err.into())))
            }
            Poll::Ready(None) => {
                this.wait(false);
                this.timer = None;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for Bounded<B> {
    fn drop(&mut self) {
        // The request is still in flight (its answer to send) if it still has a place.
        if self.waiting {
            self.held.waiting(false);
        }
    }
}

/// The refusal a [`Bounded`] body failed with, found in the error its reader got.
pub fn refusal<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a tonic::Status> {
    let mut source = Some(error);
    while let Some(err) = source {
        if let Some(status) = err.downcast_ref::<tonic::Status>() {
            return Some(status);
        }
        source = err.source();
    }
    None
}
