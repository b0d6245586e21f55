//! The client's end of `Database.Session`: every request of a [`Client`](crate::Client) (and
//! its clones and handles) goes as a frame on one bidirectional stream, answered by id, so
//! concurrent callers pipeline on it. Opened on first use and again after it ends; a server
//! without sessions (UNIMPLEMENTED) makes the client fall back to unary calls for good.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlited_proto::v1::database_client::DatabaseClient;
use sqlited_proto::v1::session_request::Request as Kind;
use sqlited_proto::v1::session_response::Response as Answer;
use sqlited_proto::v1::{QueryResponse, SessionCancel, SessionMore, SessionRequest};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Code, Status};

use crate::transport::Transport;

/// Requests in flight on one session when the server does not say (it does).
const DEFAULT_DEPTH: usize = 64;

/// The sessions of one client: the live one, if any.
#[derive(Debug)]
pub(crate) struct Sessions {
    rpc: DatabaseClient<Transport>,
    /// The most requests this client keeps in flight on a session (the server's limit caps it).
    depth: usize,
    live: tokio::sync::Mutex<Option<Arc<Live>>>,
    /// The server has no Session RPC: unary calls from now on.
    unsupported: AtomicBool,
}

/// One open session. Its end of the request stream closes when the last handle on it is
/// dropped, and then the server ends the session.
#[derive(Debug)]
struct Live {
    frames: mpsc::UnboundedSender<SessionRequest>,
    answers: Arc<Answers>,
    next_id: AtomicU64,
    in_flight: Arc<Semaphore>,
    /// The largest frame the server takes; a larger request goes as a unary call, which
    /// the server refuses alone.
    max_frame: usize,
}

/// What the task reading a session's answers shares with its requests.
#[derive(Debug, Default)]
struct Answers {
    waiting: Mutex<HashMap<u64, Waiter>>,
    ended: AtomicBool,
}

#[derive(Debug)]
enum Waiter {
    Once(
        oneshot::Sender<Result<Answer, Status>>,
        OwnedSemaphorePermit,
    ),
    Rows(
        mpsc::UnboundedSender<Result<QueryResponse, Status>>,
        Option<OwnedSemaphorePermit>,
    ),
}

/// The answer of a unary-like request, or `None` when the server has no sessions.
pub(crate) type Outcome<T> = Option<Result<T, Status>>;

impl Sessions {
    pub(crate) fn new(rpc: DatabaseClient<Transport>, depth: usize) -> Self {
        Self {
            rpc,
            depth: depth.max(1),
            live: tokio::sync::Mutex::new(None),
            unsupported: AtomicBool::new(false),
        }
    }

    /// The live session, opened if needed; `None` when the server has none.
    async fn live(&self) -> Option<Result<Arc<Live>, Status>> {
        if self.unsupported.load(Ordering::Relaxed) {
            return None;
        }
        let mut live = self.live.lock().await;
        if let Some(session) = live.as_ref()
            && !session.answers.ended.load(Ordering::Acquire)
        {
            return Some(Ok(Arc::clone(session)));
        }
        let (frames, receiver) = mpsc::unbounded_channel();
        let opened = self
            .rpc
            .clone()
            .session(UnboundedReceiverStream::new(receiver))
            .await;
        let response = match opened {
            Ok(response) => response,
            Err(status) if status.code() == Code::Unimplemented => {
                self.unsupported.store(true, Ordering::Relaxed);
                return None;
            }
            Err(status) => return Some(Err(status)),
        };
        let server_depth = response
            .metadata()
            .get("sqlited-session-max-in-flight")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_DEPTH);
        let max_frame = response
            .metadata()
            .get("sqlited-session-max-message-bytes")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(usize::MAX);
        let session = Arc::new(Live {
            frames,
            answers: Arc::default(),
            next_id: AtomicU64::new(1),
            in_flight: Arc::new(Semaphore::new(self.depth.min(server_depth).max(1))),
            max_frame,
        });
        tokio::spawn(read_answers(
            Arc::clone(&session.answers),
            response.into_inner(),
        ));
        *live = Some(Arc::clone(&session));
        Some(Ok(session))
    }

    /// Sends `kind` and waits for its final answer; `None` when the server has no sessions.
    pub(crate) async fn call(&self, kind: Kind, timeout: Option<Duration>) -> Outcome<Answer> {
        let session = match self.live().await? {
            Ok(session) => session,
            Err(status) => return Some(Err(status)),
        };
        if !session.fits(&kind) {
            return None;
        }
        let Ok(permit) = Arc::clone(&session.in_flight).acquire_owned().await else {
            return Some(Err(ended()));
        };
        let (reply, answer) = oneshot::channel();
        let id = session.register(Waiter::Once(reply, permit));
        if let Err(status) = session.send(id, kind, timeout) {
            return Some(Err(status));
        }
        let answer = async { answer.await.unwrap_or_else(|_| Err(ended())) };
        Some(match timeout {
            None => answer.await,
            // The server answers at the deadline; this bounds a server that cannot.
            Some(t) => match tokio::time::timeout(t + Duration::from_secs(1), answer).await {
                Ok(answer) => answer,
                Err(_) => {
                    session.cancel(id);
                    Err(Status::deadline_exceeded(
                        "the call's deadline passed before the server answered",
                    ))
                }
            },
        })
    }

    /// Starts a query; its frames come through the returned [`SessionRows`].
    pub(crate) async fn query(
        &self,
        kind: Kind,
        timeout: Option<Duration>,
    ) -> Outcome<SessionRows> {
        let session = match self.live().await? {
            Ok(session) => session,
            Err(status) => return Some(Err(status)),
        };
        if !session.fits(&kind) {
            return None;
        }
        let Ok(permit) = Arc::clone(&session.in_flight).acquire_owned().await else {
            return Some(Err(ended()));
        };
        let (sender, frames) = mpsc::unbounded_channel();
        let id = session.register(Waiter::Rows(sender, Some(permit)));
        if let Err(status) = session.send(id, kind, timeout) {
            return Some(Err(status));
        }
        Some(Ok(SessionRows {
            session,
            id,
            frames,
            done: false,
        }))
    }
}

impl Live {
    /// Whether `kind` fits in a frame the server takes (with room for the frame's other
    /// fields and the request's own tag and length).
    fn fits(&self, kind: &Kind) -> bool {
        kind.encoded_len() + 32 <= self.max_frame
    }

    fn register(&self, waiter: Waiter) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.answers
            .waiting
            .lock()
            .expect("session waiters poisoned")
            .insert(id, waiter);
        id
    }

    fn send(&self, id: u64, kind: Kind, timeout: Option<Duration>) -> Result<(), Status> {
        let timeout_ms = timeout.map_or(0, |t| u32::try_from(t.as_millis()).unwrap_or(u32::MAX));
        let frame = SessionRequest {
            request_id: id,
            request: Some(kind),
            timeout_ms,
        };
        self.frames.send(frame).map_err(|_| {
            self.answers
                .waiting
                .lock()
                .expect("session waiters poisoned")
                .remove(&id);
            ended()
        })
    }

    fn cancel(&self, id: u64) {
        let _ = self.frames.send(SessionRequest {
            request_id: id,
            request: Some(Kind::Cancel(SessionCancel {})),
            timeout_ms: 0,
        });
    }
}

impl Answers {
    /// Fails every request still waiting: the session ended with `status`.
    fn end(&self, status: &Status) {
        self.ended.store(true, Ordering::Release);
        let waiting: Vec<_> = self
            .waiting
            .lock()
            .expect("session waiters poisoned")
            .drain()
            .collect();
        for (_, waiter) in waiting {
            let status = Status::with_details(
                status.code(),
                status.message().to_string(),
                status.details().to_vec().into(),
            );
            match waiter {
                Waiter::Once(reply, _) => {
                    let _ = reply.send(Err(status));
                }
                Waiter::Rows(rows, _) => {
                    let _ = rows.send(Err(status));
                }
            }
        }
    }
}

/// Reads the session's answers and hands each to its request, until the session ends.
async fn read_answers(
    session: Arc<Answers>,
    mut answers: tonic::Streaming<sqlited_proto::v1::SessionResponse>,
) {
    let status = loop {
        let frame = match answers.message().await {
            Ok(Some(frame)) => frame,
            Ok(None) => break ended(),
            Err(status) => break status,
        };
        let Some(answer) = frame.response else {
            continue;
        };
        let mut waiting = session.waiting.lock().expect("session waiters poisoned");
        let id = frame.request_id;
        match (waiting.get_mut(&id), answer) {
            (Some(Waiter::Rows(rows, permit)), Answer::Query(message)) => {
                let last = message.summary.is_some();
                let _ = rows.send(Ok(message));
                if last {
                    drop(permit.take());
                    waiting.remove(&id);
                }
            }
            (Some(Waiter::Rows(rows, _)), Answer::Error(error)) => {
                let _ = rows.send(Err(status_of(error)));
                waiting.remove(&id);
            }
            (Some(Waiter::Once(..)), answer) => {
                if let Some(Waiter::Once(reply, _permit)) = waiting.remove(&id) {
                    let _ = reply.send(match answer {
                        Answer::Error(error) => Err(status_of(error)),
                        answer => Ok(answer),
                    });
                }
            }
            // An answer for a request nobody waits for any more (it timed out).
            _ => {}
        }
    };
    session.end(&status);
}

fn status_of(error: sqlited_proto::v1::SessionError) -> Status {
    Status::with_details(Code::from(error.code), error.message, error.details.into())
}

fn ended() -> Status {
    Status::unavailable("the session ended before the server answered; retry the request")
}

/// A query's frames on a session; acknowledges each as it is taken, so the server sends on.
#[derive(Debug)]
pub(crate) struct SessionRows {
    session: Arc<Live>,
    id: u64,
    frames: mpsc::UnboundedReceiver<Result<QueryResponse, Status>>,
    done: bool,
}

impl SessionRows {
    /// The next message, `None` after the last.
    pub(crate) async fn message(&mut self) -> Result<Option<QueryResponse>, Status> {
        if self.done {
            return Ok(None);
        }
        match self.frames.recv().await {
            Some(Ok(message)) => {
                if message.summary.is_some() {
                    self.done = true;
                } else {
                    let _ = self.session.frames.send(SessionRequest {
                        request_id: self.id,
                        request: Some(Kind::More(SessionMore { frames: 1 })),
                        timeout_ms: 0,
                    });
                }
                Ok(Some(message))
            }
            Some(Err(status)) => {
                self.done = true;
                Err(status)
            }
            None => {
                self.done = true;
                Err(ended())
            }
        }
    }
}

impl Drop for SessionRows {
    /// A query dropped before its end is cancelled, so it frees its connection at once.
    fn drop(&mut self) {
        if !self.done {
            self.session.cancel(self.id);
        }
    }
}
