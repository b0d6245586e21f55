//! Where a job's answer goes: a channel its request awaits (in the server), or a function the
//! worker calls on its own thread (in a worker process, which writes the answer straight to
//! its socket — no thread hop on the way out).

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Instant;

use sqlited_proto::v1::QueryResponse;
use tokio::sync::{mpsc, oneshot};

use super::cancel::CancelToken;
use super::job::Handled;
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

/// One item of a query's stream: a message of its result, an error (its last item), or a
/// reader's refusal of a statement that writes (its first and only item: the database sends
/// the statement to the writer).
pub type Streamed = Result<Handled<QueryResponse>>;

/// Where a query's messages go. The stream ends when the sink is dropped.
pub enum RowSink {
    /// A bounded channel the request's stream reads: a slow reader makes the worker wait,
    /// though never past the request's deadline ([`Sent::TooSlow`]).
    Channel(mpsc::Sender<Streamed>),
    /// A channel that never makes the worker wait: for the writer, which collects a writing
    /// query's rows (bounded) before it commits and must then hand them over at once.
    Unbounded(mpsc::UnboundedSender<Streamed>),
    /// Functions the worker calls on its own thread.
    Call(CallSink),
}

/// What became of a message offered to a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The stream has it.
    Delivered,
    /// Nobody reads the stream any more.
    Gone,
    /// The stream stayed full until the request's deadline: its client reads too slowly.
    TooSlow,
}

/// A sink of functions: `send` passes one message (false: nobody reads any more), `end` is
/// called once, when the sink is dropped.
pub struct CallSink {
    send: Box<dyn Fn(Streamed) -> bool + Send + Sync>,
    end: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl CallSink {
    pub fn new(
        send: impl Fn(Streamed) -> bool + Send + Sync + 'static,
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
    /// Passes one message, waiting while the reader is behind, but not past `cancel`'s
    /// deadline: time blocked on a full stream counts against the request's deadline like
    /// time running SQL. A slow reader is marked on the token, so its stream ends with
    /// DEADLINE_EXCEEDED saying why.
    pub fn send_within(&self, item: Streamed, cancel: &CancelToken) -> Sent {
        let sent = match self {
            RowSink::Channel(sender) => send_by(sender, item, cancel.deadline()),
            RowSink::Unbounded(sender) => match sender.send(item) {
                Ok(()) => Sent::Delivered,
                Err(_) => Sent::Gone,
            },
            RowSink::Call(sink) => {
                if (sink.send)(item) {
                    Sent::Delivered
                } else {
                    Sent::Gone
                }
            }
        };
        if sent == Sent::TooSlow {
            cancel.mark_slow_reader();
        }
        sent
    }

    /// Passes one message without waiting (from async code): dropped if the channel is full.
    pub fn try_send(&self, item: Streamed) {
        match self {
            RowSink::Channel(sender) => {
                let _ = sender.try_send(item);
            }
            RowSink::Unbounded(sender) => {
                let _ = sender.send(item);
            }
            RowSink::Call(sink) => {
                (sink.send)(item);
            }
        }
    }

    /// A handle on the sink's channel, for a sink that is one.
    pub fn channel(&self) -> Option<RowSink> {
        match self {
            RowSink::Channel(sender) => Some(RowSink::Channel(sender.clone())),
            RowSink::Unbounded(sender) => Some(RowSink::Unbounded(sender.clone())),
            RowSink::Call(_) => None,
        }
    }
}

/// Sends `item` on `sender`, waiting while it is full until `deadline` (if any). A plain
/// thread waits here (a worker, or a worker process's answer thread), so the wait is the
/// channel's own future polled under a waker that unparks this thread.
fn send_by(sender: &mpsc::Sender<Streamed>, item: Streamed, deadline: Option<Instant>) -> Sent {
    let item = match sender.try_send(item) {
        Ok(()) => return Sent::Delivered,
        Err(mpsc::error::TrySendError::Closed(_)) => return Sent::Gone,
        Err(mpsc::error::TrySendError::Full(item)) => item,
    };
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut room = std::pin::pin!(sender.reserve());
    loop {
        match room.as_mut().poll(&mut context) {
            Poll::Ready(Ok(permit)) => {
                permit.send(item);
                return Sent::Delivered;
            }
            Poll::Ready(Err(_)) => return Sent::Gone,
            Poll::Pending => match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Sent::TooSlow;
                    }
                    std::thread::park_timeout(deadline - now);
                }
            },
        }
    }
}

impl From<mpsc::Sender<Streamed>> for RowSink {
    fn from(sender: mpsc::Sender<Streamed>) -> Self {
        RowSink::Channel(sender)
    }
}

impl From<mpsc::UnboundedSender<Streamed>> for RowSink {
    fn from(sender: mpsc::UnboundedSender<Streamed>) -> Self {
        RowSink::Unbounded(sender)
    }
}

#[cfg(test)]
mod test {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_full_stream_waits_only_until_the_deadline() {
        let (sender, mut receiver) = mpsc::channel(1);
        let sink = RowSink::from(sender);
        let cancel = CancelToken::new(Some(Duration::from_millis(50)), None);
        assert_eq!(
            sink.send_within(Ok(Handled::Ran(QueryResponse::default())), &cancel),
            Sent::Delivered
        );
        let started = Instant::now();
        assert_eq!(
            sink.send_within(Ok(Handled::Ran(QueryResponse::default())), &cancel),
            Sent::TooSlow
        );
        assert!(started.elapsed() >= Duration::from_millis(40));
        assert!(cancel.is_slow_reader());
        assert!(receiver.try_recv().is_ok());
        drop(receiver);
        let patient = CancelToken::new(None, None);
        assert_eq!(
            sink.send_within(Ok(Handled::Ran(QueryResponse::default())), &patient),
            Sent::Gone
        );
    }

    #[test]
    fn a_reader_that_catches_up_is_served() {
        let (sender, mut receiver) = mpsc::channel(1);
        let sink = RowSink::from(sender);
        let cancel = CancelToken::new(Some(Duration::from_secs(30)), None);
        sink.send_within(Ok(Handled::Ran(QueryResponse::default())), &cancel);
        let reader = std::thread::spawn(move || {
            let mut got = 0;
            while receiver.blocking_recv().is_some() {
                got += 1;
            }
            got
        });
        for _ in 0..100 {
            assert_eq!(
                sink.send_within(Ok(Handled::Ran(QueryResponse::default())), &cancel),
                Sent::Delivered
            );
        }
        drop(sink);
        assert_eq!(reader.join().unwrap(), 101);
    }
}
