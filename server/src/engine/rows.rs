//! The stream of one query's result messages, fed by a worker through a channel.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use sqlited_proto::v1::QueryResponse;
use tokio::sync::mpsc;

use crate::error::Result;
use crate::worker::cancel::CancelToken;

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
    Bounded(mpsc::Receiver<Result<QueryResponse>>),
    Unbounded(mpsc::UnboundedReceiver<Result<QueryResponse>>),
}

impl Rest {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<QueryResponse>>> {
        match self {
            Rest::Bounded(receiver) => receiver.poll_recv(cx),
            Rest::Unbounded(receiver) => receiver.poll_recv(cx),
        }
    }
}

impl QueryRows {
    pub(crate) fn new(
        first: Result<QueryResponse>,
        rest: impl Into<Rest>,
        cancel: &Arc<CancelToken>,
    ) -> Self {
        Self {
            failed: first.is_err(),
            first: Some(first),
            rest: rest.into(),
            cancel: Arc::clone(cancel),
        }
    }
}

impl From<mpsc::Receiver<Result<QueryResponse>>> for Rest {
    fn from(receiver: mpsc::Receiver<Result<QueryResponse>>) -> Self {
        Rest::Bounded(receiver)
    }
}

impl From<mpsc::UnboundedReceiver<Result<QueryResponse>>> for Rest {
    fn from(receiver: mpsc::UnboundedReceiver<Result<QueryResponse>>) -> Self {
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
