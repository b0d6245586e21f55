//! The one way every RPC of every service ends: the cancel guard is disarmed, the end is
//! logged in the request's span, the response carries `x-request-id`, and an error becomes a
//! status that carries it too. A streaming RPC also gets its end log and row metric when
//! its stream ends ([`ResponseStream`]).

use futures_core::Stream;
use tonic::{Response, Status};
use tracing::Span;

use super::context::{Context, tag};
use super::response_stream::ResponseStream;
use crate::error::Result;

impl Context {
    /// Ends a unary RPC with `result`; `rows` says how many rows it touched, for the log.
    pub fn unary<T>(
        self,
        span: &Span,
        result: Result<T>,
        rows: impl Fn(&T) -> u64,
    ) -> Result<Response<T>, Status> {
        self.guard.disarm();
        let _entered = span.enter();
        let elapsed_us = self.started.elapsed().as_micros() as u64;
        match result {
            Ok(response) => {
                tracing::debug!(rows = rows(&response), elapsed_us, "ok");
                Ok(tag(Response::new(response), &self.request_id))
            }
            Err(err) => {
                failed(span, &self.request_id, &err, elapsed_us);
                Err(err.into_status(Some(&self.request_id)))
            }
        }
    }

    /// Ends a streaming RPC whose messages are `result`'s stream; `count` gives the rows of
    /// one message. The work goes on while the client reads: the guard stays armed until the
    /// stream ends, so a client that goes away stops it.
    pub fn stream<S, M>(
        self,
        span: Span,
        result: Result<S>,
        count: fn(&M) -> u64,
    ) -> Result<Response<ResponseStream<S, M>>, Status>
    where
        S: Stream<Item = Result<M>>,
    {
        match result {
            Ok(stream) => {
                let request_id = self.request_id.clone();
                let stream =
                    ResponseStream::new(stream, count, span, self.started, self.guard, request_id);
                Ok(tag(Response::new(stream), &self.request_id))
            }
            Err(err) => {
                self.guard.disarm();
                let elapsed_us = self.started.elapsed().as_micros() as u64;
                failed(&span, &self.request_id, &err, elapsed_us);
                Err(err.into_status(Some(&self.request_id)))
            }
        }
    }
}

/// Logs a request's failure in its span. A request whose span is not logged at this level (a
/// key-value request's is at debug: creating a span at info costs about as much as the map
/// operation itself) names its request id on the line itself.
fn failed(span: &Span, request_id: &str, err: &crate::error::Error, elapsed_us: u64) {
    if span.is_disabled() {
        tracing::info!(request_id, code = ?err.code(), error = %err, elapsed_us, "failed");
    } else {
        tracing::info!(parent: span, code = ?err.code(), error = %err, elapsed_us, "failed");
    }
}
