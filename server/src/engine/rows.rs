//! The stream of one query's result messages, fed by a worker through a channel.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use sqlited_proto::v1::QueryResponse;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::worker::cancel::CancelToken;
use crate::worker::reply::Streamed;

/// Result messages in order: the first one (already received when the query was routed),
/// then the rest as the worker sends them. A reader's channel is small, so a slow reader of
/// this stream makes the worker wait (never past the request's deadline), not the server's
/// memory grow; the writer's is unbounded, since the writer hands over rows it collected
/// within a bound.
pub struct QueryRows {
    first: Option<Result<QueryResponse>>,
    rest: Rest,
    /// Says, once the channel ends, whether the client read too slowly, so the stream
    /// ends with that error instead of looking complete.
    cancel: Arc<CancelToken>,
    /// An error ended the stream already.
    failed: bool,
}

/// Where the messages after the first come from.
pub(crate) enum Rest {
    Bounded(mpsc::Receiver<Streamed>),
    Unbounded(mpsc::UnboundedReceiver<Streamed>),
}

impl Rest {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<QueryResponse>>> {
        match self {
            Rest::Bounded(receiver) => receiver.poll_recv(cx),
            Rest::Unbounded(receiver) => receiver.poll_recv(cx),
        }
        .map(|item| item.map(message))
    }
}

/// A stream's item as its client sees it. Only a stream's first item may be a refusal, and
/// the database routes that one before the stream begins, so any other is a bug.
fn message(item: Streamed) -> Result<QueryResponse> {
    item?.ran_or(|| Error::Internal("a query was refused after its stream began".into()))
}

impl QueryRows {
    /// The stream of a query whose first item is `first`, already routed: see [`message`].
    pub(crate) fn new(first: Streamed, rest: impl Into<Rest>, cancel: &Arc<CancelToken>) -> Self {
        let first = message(first);
        Self {
            failed: first.is_err(),
            first: Some(first),
            rest: rest.into(),
            cancel: Arc::clone(cancel),
        }
    }
}

impl From<mpsc::Receiver<Streamed>> for Rest {
    fn from(receiver: mpsc::Receiver<Streamed>) -> Self {
        Rest::Bounded(receiver)
    }
}

impl From<mpsc::UnboundedReceiver<Streamed>> for Rest {
    fn from(receiver: mpsc::UnboundedReceiver<Streamed>) -> Self {
        Rest::Unbounded(receiver)
    }
}

impl Stream for QueryRows {
    type Item = Result<QueryResponse>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(first));
        }
        match self.rest.poll_recv(cx) {
            Poll::Ready(Some(item)) => {
                self.failed |= item.is_err();
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) if !self.failed && self.cancel.is_slow_reader() => {
                self.failed = true;
                Poll::Ready(Some(Err(self.cancel.slow_reader_error())))
            }
            other => other,
        }
    }
}
