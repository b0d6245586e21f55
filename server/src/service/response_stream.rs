//! A streaming RPC's response as tonic sends it: engine errors become statuses carrying the
//! request id, and when the stream ends — finished, failed, or dropped by a client that went
//! away — one log line and the returned-rows metric report what it sent.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_core::Stream;
use tonic::Status;
use tracing::Span;

use crate::error::Result;
use crate::worker::cancel::CancelOnDrop;

/// The response stream of Query and Call: a query's result messages.
pub type ResponseRows =
    ResponseStream<crate::engine::rows::QueryRows, sqlited_proto::v1::QueryResponse>;

/// The response stream of Query, Call, Scan and Backup: `S`'s messages, counted by `count`.
pub struct ResponseStream<S: Stream<Item = Result<M>>, M> {
    inner: S,
    /// Rows (or entries) in one message, for the log line and the metric.
    count: fn(&M) -> u64,
    span: Span,
    started: Instant,
    rows: u64,
    failed: bool,
    ended: bool,
    /// Stops the work if the client drops the stream early.
    guard: Option<CancelOnDrop>,
    request_id: String,
}

impl<S: Stream<Item = Result<M>>, M> ResponseStream<S, M> {
    /// Wraps `inner`, logging into `span`.
    pub(super) fn new(
        inner: S,
        count: fn(&M) -> u64,
        span: Span,
        started: Instant,
        guard: CancelOnDrop,
        request_id: String,
    ) -> Self {
        Self {
            inner,
            count,
            span,
            started,
            rows: 0,
            failed: false,
            ended: false,
            guard: Some(guard),
            request_id,
        }
    }

    fn log_end(&mut self, outcome: &str) {
        if self.ended {
            return;
        }
        self.ended = true;
        if outcome != "client went away"
            && let Some(guard) = self.guard.take()
        {
            guard.disarm();
        }
        ::metrics::counter!(crate::metrics::names::ROWS_RETURNED).increment(self.rows);
        let elapsed_us = self.started.elapsed().as_micros() as u64;
        tracing::debug!(parent: &self.span, rows = self.rows, elapsed_us, outcome, "stream ended");
    }
}

impl<S: Stream<Item = Result<M>> + Unpin, M> Stream for ResponseStream<S, M> {
    type Item = Result<M, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(message))) => {
                let rows = (self.count)(&message);
                self.rows += rows;
                Poll::Ready(Some(Ok(message)))
            }
            Poll::Ready(Some(Err(err))) => {
                self.failed = true;
                if self.span.is_disabled() {
                    // A key-value Scan's span is at debug level (see `finish::failed`).
                    let request_id = self.request_id.as_str();
                    tracing::info!(request_id, code = ?err.code(), error = %err, "stream failed");
                } else {
                    tracing::info!(parent: &self.span, code = ?err.code(), error = %err, "stream failed");
                }
                self.log_end("error");
                Poll::Ready(Some(Err(err.into_status(Some(&self.request_id)))))
            }
            Poll::Ready(None) => {
                self.log_end("ok");
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: Stream<Item = Result<M>>, M> Drop for ResponseStream<S, M> {
    fn drop(&mut self) {
        self.log_end("client went away");
    }
}
