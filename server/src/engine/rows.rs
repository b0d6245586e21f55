//! The stream of one query's result messages, fed by a worker through a bounded channel.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use sqlited_proto::v1::QueryResponse;
use tokio::sync::mpsc;

use crate::error::Result;

/// Result messages in order: the first one (already received when the query was routed),
/// then the rest as the worker sends them. The channel is small, so a slow reader of this
/// stream makes the worker wait, not the server's memory grow.
pub struct QueryRows {
    first: Option<Result<QueryResponse>>,
    rest: mpsc::Receiver<Result<QueryResponse>>,
}

impl QueryRows {
    pub(crate) fn new(
        first: Result<QueryResponse>,
        rest: mpsc::Receiver<Result<QueryResponse>>,
    ) -> Self {
        Self {
            first: Some(first),
            rest,
        }
    }
}

impl Stream for QueryRows {
    type Item = Result<QueryResponse>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(first));
        }
        self.rest.poll_recv(cx)
    }
}
