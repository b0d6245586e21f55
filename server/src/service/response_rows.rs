//! A query's result stream as tonic sends it: engine errors become statuses, and one log
//! line reports the rows and time when the stream ends.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_core::Stream;
use sqlited_proto::v1::QueryResponse;
use tonic::Status;
use tracing::Span;

use crate::engine::rows::QueryRows;
use crate::worker::cancel::CancelOnDrop;

/// The response stream of `Database.Query`.
pub struct ResponseRows {
    inner: QueryRows,
    span: Span,
    started: Instant,
    rows: u64,
    failed: bool,
    ended: bool,
    /// Stops the statement if the client drops the stream early.
    guard: Option<CancelOnDrop>,
    request_id: String,
}

impl ResponseRows {
    /// Wraps `inner`, logging into `span`.
    pub fn new(
        inner: QueryRows,
        span: Span,
        started: Instant,
        guard: CancelOnDrop,
        request_id: String,
    ) -> Self {
        Self {
            inner,
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
        if !self.ended {
            self.ended = true;
            if outcome != "client went away"
                && let Some(guard) = self.guard.take()
            {
                guard.disarm();
            }
            let elapsed = self.started.elapsed();
            ::metrics::counter!(crate::metrics::ROWS_RETURNED).increment(self.rows);
            let elapsed_us = elapsed.as_micros() as u64;
            tracing::debug!(parent: &self.span, rows = self.rows, elapsed_us, outcome, "query ended");
        }
    }
}

impl ResponseRows {
    /// The answer of a streaming call (Query, Call) whose rows are `result`: the stream, or
    /// the error as a status, logged in `span`.
    pub fn respond(
        result: crate::error::Result<QueryRows>,
        span: Span,
        started: Instant,
        ctx: super::context::Context,
    ) -> Result<tonic::Response<Self>, Status> {
        match result {
            Ok(rows) => Ok(super::context::tag(
                tonic::Response::new(Self::new(
                    rows,
                    span,
                    started,
                    ctx.guard,
                    ctx.request_id.clone(),
                )),
                &ctx.request_id,
            )),
            Err(err) => {
                ctx.guard.disarm();
                tracing::info!(parent: &span, code = ?err.code(), error = %err, "failed");
                Err(err.into_status(Some(&ctx.request_id)))
            }
        }
    }
}

impl Stream for ResponseRows {
    type Item = Result<QueryResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(message))) => {
                self.rows += message.rows.len() as u64;
                Poll::Ready(Some(Ok(message)))
            }
            Poll::Ready(Some(Err(err))) => {
                self.failed = true;
                tracing::info!(parent: &self.span, code = ?err.code(), error = %err, "query failed");
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

impl Drop for ResponseRows {
    fn drop(&mut self) {
        self.log_end("client went away");
    }
}
