//! Stopping a statement inside SQLite: each task carries a [`CancelToken`] with its
//! deadline; the connection's progress handler checks the token of the task it is running,
//! every few thousand VM steps, and interrupts the statement when the deadline has passed or
//! the client went away.
//!
//! A token belongs to one task, so cancelling a finished request can never stop the next one.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// VM steps between two checks of the running task's token.
pub const CHECK_EVERY_OPS: i32 = 4000;

/// Whether a task should stop, and until when it may run.
#[derive(Debug, Default)]
pub struct CancelToken {
    cancelled: AtomicBool,
    /// Raised when the request's result stream stayed full until its deadline: the client
    /// reads too slowly, and its statement is stopped.
    slow_reader: AtomicBool,
    /// Raised once the task's statement is known to write (prepared not read-only, or sent
    /// to the writer as a write), so its errors say a write was undone only when one was.
    writes: AtomicBool,
    deadline: Option<Instant>,
    /// The timeout the deadline came from, for the error message.
    timeout: Option<Duration>,
    /// When the answer must be sent at the latest (the call's own gRPC deadline, a little
    /// after `deadline`); past it the transport answers for us.
    answer_by: Option<Instant>,
    /// What the request may do ([`Access`](crate::auth::Access) as a number; 0 means
    /// admin, the default without auth). SQLite's authorizer checks it on every statement
    /// the task prepares, wherever the task runs.
    access: AtomicU8,
    /// Whether the request's statements may ATTACH the data directory's other databases
    /// (with `--unsafe-sql`): its token may read every database, and none is exposed-only.
    /// Off unless the service says so.
    may_attach: AtomicBool,
    /// The request's id, for log lines of whichever worker runs it.
    request_id: OnceLock<String>,
}

impl CancelToken {
    /// A token for a task that must stop within `timeout` (if any) and be answered within
    /// `answer_within` (if any).
    pub fn new(timeout: Option<Duration>, answer_within: Option<Duration>) -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            cancelled: AtomicBool::new(false),
            slow_reader: AtomicBool::new(false),
            writes: AtomicBool::new(false),
            deadline: timeout.map(|t| now + t),
            timeout,
            answer_by: answer_within.map(|t| now + t),
            access: AtomicU8::new(0),
            may_attach: AtomicBool::new(false),
            request_id: OnceLock::new(),
        })
    }

    /// A token continuing another's in a worker process: `left` of the deadline remains of
    /// the original `timeout`.
    pub fn resumed(left: Option<Duration>, timeout: Option<Duration>) -> Arc<Self> {
        Arc::new(Self {
            deadline: left.map(|t| Instant::now() + t),
            timeout: timeout.or(left),
            ..Self::default()
        })
    }

    /// Names the request this token belongs to, for logs (the first name sticks).
    pub fn set_request_id(&self, id: &str) {
        let _ = self.request_id.set(id.to_string());
    }

    /// The request's id, if it was named.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.get().map(String::as_str)
    }

    /// Whether the client went away (not whether the deadline passed).
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// The full length of the deadline, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// A token with no deadline.
    pub fn none() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Limits the task's statements to `access`.
    pub fn set_access(&self, access: crate::auth::Access) {
        self.access.store(access.as_u8(), Ordering::Relaxed);
    }

    /// What the task's statements may do.
    pub fn access(&self) -> crate::auth::Access {
        crate::auth::Access::from_u8(self.access.load(Ordering::Relaxed))
    }

    /// Lets the task's statements ATTACH other databases of the data directory (with
    /// `--unsafe-sql`; see `worker::sandbox::attach`).
    pub fn set_may_attach(&self, may: bool) {
        self.may_attach.store(may, Ordering::Relaxed);
    }

    /// Whether the task's statements may ATTACH other databases.
    pub fn may_attach(&self) -> bool {
        self.may_attach.load(Ordering::Relaxed)
    }

    /// Asks the task to stop: its client is gone.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Whether the task should stop now.
    pub fn should_stop(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
            || self.slow_reader.load(Ordering::Acquire)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// When the task must have stopped, if ever.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The client did not read the task's result stream before the deadline: stop it.
    pub fn mark_slow_reader(&self) {
        self.slow_reader.store(true, Ordering::Release);
    }

    /// Whether the task was stopped for a client that reads too slowly.
    pub fn is_slow_reader(&self) -> bool {
        self.slow_reader.load(Ordering::Acquire)
    }

    /// The task's statement writes.
    pub fn note_write(&self) {
        self.writes.store(true, Ordering::Release);
    }

    /// Whether the task's statement is known to write.
    pub fn writes(&self) -> bool {
        self.writes.load(Ordering::Acquire)
    }

    /// The error that ends the stream of a client that read too slowly.
    pub fn slow_reader_error(&self) -> Error {
        Error::DeadlineExceeded(format!(
            "the client read the result too slowly: the stream stayed full until the request's \
             deadline ({} ms: the call's own deadline or the server's --statement-timeout-ms), \
             so the statement was stopped to free the server's connection{}; read the stream \
             as it arrives, or fetch less per query (LIMIT, paging)",
            self.timeout.unwrap_or_default().as_millis(),
            if self.writes() {
                " and what it wrote was rolled back"
            } else {
                ""
            }
        ))
    }

    /// Time left before the deadline, if there is one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The error for a request whose deadline passed while it waited.
    pub fn deadline_error(&self) -> Error {
        Error::DeadlineExceeded(format!(
            "the request ran past its deadline ({} ms: the call's own deadline or the server's \
             --statement-timeout-ms) and was stopped{}",
            self.timeout.unwrap_or_default().as_millis(),
            if self.writes() {
                "; a write that was already committing may still have taken effect"
            } else {
                ""
            }
        ))
    }

    /// Awaits a worker's answer (`None`: the worker dropped the channel), but not past the
    /// deadline; the worker stops the task by itself then, and gets a short grace to answer
    /// with what really happened.
    pub async fn wait<T>(
        &self,
        answer: impl Future<Output = Option<Result<T>>>,
    ) -> Option<Result<T>> {
        const GRACE: Duration = Duration::from_millis(100);
        let Some(left) = self.remaining() else {
            return answer.await;
        };
        let mut answer = std::pin::pin!(answer);
        if let Ok(answered) = tokio::time::timeout(left, &mut answer).await {
            return answered;
        }
        let grace = match self.answer_by {
            Some(by) => GRACE.min(by.saturating_duration_since(Instant::now())),
            None => GRACE,
        };
        match tokio::time::timeout(grace, &mut answer).await {
            Ok(answered) => answered,
            Err(_) => Some(Err(self.deadline_error())),
        }
    }

    /// The error for a statement SQLite interrupted on this token's behalf; other errors
    /// pass through.
    pub fn explain(&self, err: Error) -> Error {
        let interrupted = matches!(&err, Error::Sqlite { code, .. } if code & 0xff == rusqlite::ffi::SQLITE_INTERRUPT);
        if !interrupted {
            return err;
        }
        if self.is_slow_reader() {
            return self.slow_reader_error();
        }
        if self.cancelled.load(Ordering::Acquire) {
            return Error::Cancelled("the client went away; the statement was stopped".into());
        }
        match self.timeout {
            Some(timeout) => Error::DeadlineExceeded(format!(
                "the request ran past its deadline ({} ms: the call's own deadline or the \
                 server's --statement-timeout-ms) and its statement was stopped{}",
                timeout.as_millis(),
                if self.writes() {
                    "; nothing it wrote was kept"
                } else {
                    ""
                }
            )),
            None => err,
        }
    }
}

/// Cancels its token when dropped before [`disarm`](Self::disarm): a request future dropped
/// by tonic (client gone, connection closed) stops its statement.
pub struct CancelOnDrop(Option<Arc<CancelToken>>);

impl CancelOnDrop {
    /// Guards `token`.
    pub fn new(token: &Arc<CancelToken>) -> Self {
        Self(Some(Arc::clone(token)))
    }

    /// The request finished: nothing to cancel.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.0.take() {
            token.cancel();
        }
    }
}

/// The token of the task a connection is running, read by its progress handler. A std
/// mutex: taken by the worker thread at task boundaries and by the handler, never contended
/// by anyone else.
#[derive(Debug, Default)]
pub struct Running(Mutex<Option<Arc<CancelToken>>>);

impl Running {
    /// Marks `token` as the running task's.
    pub fn start(&self, token: &Arc<CancelToken>) {
        *self.0.lock().expect("running token poisoned") = Some(Arc::clone(token));
    }

    /// No task is running.
    pub fn clear(&self) {
        *self.0.lock().expect("running token poisoned") = None;
    }

    /// The running task's statement writes (see [`CancelToken::note_write`]).
    pub fn note_write(&self) {
        if let Some(token) = self.0.lock().expect("running token poisoned").as_ref() {
            token.note_write();
        }
    }

    /// Whether the running statement should be interrupted.
    pub fn should_interrupt(&self) -> bool {
        self.0
            .lock()
            .expect("running token poisoned")
            .as_ref()
            .is_some_and(|token| token.should_stop())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn messages_say_a_write_was_undone_only_when_the_statement_writes() {
        let interrupted = || Error::Sqlite {
            code: rusqlite::ffi::SQLITE_INTERRUPT,
            message: "interrupted".into(),
            field: None,
        };
        let read = CancelToken::new(Some(Duration::from_millis(1500)), None);
        let running = Running::default();
        running.start(&read);
        for message in [
            read.slow_reader_error().to_string(),
            read.deadline_error().to_string(),
            read.explain(interrupted()).to_string(),
        ] {
            assert!(
                !message.contains("rolled back") && !message.contains("wr"),
                "{message}"
            );
        }
        // The worker learns at prepare time that the running task's statement writes.
        running.note_write();
        assert!(read.writes());
        assert!(read.slow_reader_error().to_string().contains("rolled back"));
        assert!(
            read.deadline_error()
                .to_string()
                .contains("may still have taken effect")
        );
        assert!(
            read.explain(interrupted())
                .to_string()
                .contains("nothing it wrote was kept")
        );
    }
}
