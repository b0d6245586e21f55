//! Where a job's answer goes: a channel its request awaits (in the server), or a function the
//! worker calls on its own thread (in a worker process, which writes the answer straight to
//! its socket — no thread hop on the way out).

use sqlited_proto::v1::QueryResponse;
use tokio::sync::{mpsc, oneshot};

use crate::error::Result;

/// The answer of one job.
pub enum Reply<T> {
    /// A channel the request awaits.
    Channel(oneshot::Sender<Result<T>>),
    /// A function called with the answer, on the worker's thread.
    Call(Box<dyn FnOnce(Result<T>) + Send>),
}

impl<T> Reply<T> {
    /// Delivers `answer`; hands it back if nobody waits for it any more.
    pub fn send(self, answer: Result<T>) -> std::result::Result<(), Result<T>> {
        match self {
            Reply::Channel(sender) => sender.send(answer),
            Reply::Call(call) => {
                call(answer);
                Ok(())
            }
        }
    }
}

impl<T> From<oneshot::Sender<Result<T>>> for Reply<T> {
    fn from(sender: oneshot::Sender<Result<T>>) -> Self {
        Reply::Channel(sender)
    }
}

/// Where a query's messages go. The stream ends when the sink is dropped.
pub enum RowSink {
    /// A bounded channel the request's stream reads: a slow reader makes the worker wait.
    Channel(mpsc::Sender<Result<QueryResponse>>),
    /// Functions the worker calls on its own thread.
    Call(CallSink),
}

/// A sink of functions: `send` passes one message (false: nobody reads any more), `end` is
/// called once, when the sink is dropped.
pub struct CallSink {
    send: Box<dyn Fn(Result<QueryResponse>) -> bool + Send + Sync>,
    end: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl CallSink {
    pub fn new(
        send: impl Fn(Result<QueryResponse>) -> bool + Send + Sync + 'static,
        end: impl FnOnce() + Send + Sync + 'static,
    ) -> Self {
        Self {
            send: Box::new(send),
            end: Some(Box::new(end)),
        }
    }
}

impl Drop for CallSink {
    fn drop(&mut self) {
        if let Some(end) = self.end.take() {
            end();
        }
    }
}

impl RowSink {
    /// Passes one message, waiting while the reader is behind; false if nobody reads.
    pub fn blocking_send(&self, item: Result<QueryResponse>) -> bool {
        match self {
            RowSink::Channel(sender) => sender.blocking_send(item).is_ok(),
            RowSink::Call(sink) => (sink.send)(item),
        }
    }

    /// Passes one message without waiting (from async code): dropped if the channel is full.
    pub fn try_send(&self, item: Result<QueryResponse>) {
        match self {
            RowSink::Channel(sender) => {
                let _ = sender.try_send(item);
            }
            RowSink::Call(sink) => {
                (sink.send)(item);
            }
        }
    }

    /// The channel, for a sink that is one.
    pub fn channel(&self) -> Option<&mpsc::Sender<Result<QueryResponse>>> {
        match self {
            RowSink::Channel(sender) => Some(sender),
            RowSink::Call(_) => None,
        }
    }
}

impl From<mpsc::Sender<Result<QueryResponse>>> for RowSink {
    fn from(sender: mpsc::Sender<Result<QueryResponse>>) -> Self {
        RowSink::Channel(sender)
    }
}
