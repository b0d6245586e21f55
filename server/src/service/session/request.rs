//! One request of a session: its frame becomes the unary RPC's request, the same
//! [`DatabaseService`] method answers it, and the answer goes back in frames — a query's
//! rows within its window of unacknowledged frames.

use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use sqlited_proto::v1::database_server::Database as _;
use sqlited_proto::v1::session_request::Request as Kind;
use sqlited_proto::v1::session_response::Response as Answer;
use sqlited_proto::v1::{QueryResponse, SessionError, SessionResponse};
use tokio::sync::{Semaphore, oneshot};
use tonic::{Code, Status};

use super::SessionId;
use super::driver::Finished;
use super::outbox::{Outbox, Stalled};
use crate::auth::Principal;
use crate::error::Error;
use crate::service::database::DatabaseService;
use crate::service::observe::End;

/// What turns a request message into a unary call's request.
pub(super) struct Unary {
    pub principal: Option<Arc<Principal>>,
    pub session: SessionId,
    pub log_id: String,
    pub timeout_ms: u32,
}

impl Unary {
    /// `message` as a gRPC request: the principal and session in its extensions, the
    /// request id and deadline in its metadata.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut metadata = tonic::metadata::MetadataMap::new();
        if let Ok(id) = self.log_id.parse() {
            metadata.insert("x-request-id", id);
        }
        if self.timeout_ms > 0
            && let Ok(value) = format!("{}m", self.timeout_ms.min(99_999_999)).parse()
        {
            metadata.insert("grpc-timeout", value);
        }
        let mut extensions = tonic::Extensions::new();
        if let Some(principal) = &self.principal {
            extensions.insert(Arc::clone(principal));
        }
        extensions.insert(self.session);
        tonic::Request::from_parts(metadata, extensions, message)
    }
}

/// A request frame, ready to run.
pub(super) struct Frame {
    pub id: u64,
    pub kind: Kind,
    pub unary: Unary,
    pub log_id: String,
    /// The request's deadline, for its answers' wait for room.
    pub deadline: Option<Instant>,
    /// A query's window.
    pub window: Option<Arc<Semaphore>>,
}

/// Runs `frame` to its final answer, or to a `cancel` frame.
pub(super) async fn run(
    service: Arc<DatabaseService>,
    frame: Frame,
    outbox: Outbox,
    cancelled: oneshot::Receiver<()>,
) -> Finished {
    let id = frame.id;
    let deadline = frame.deadline;
    let log_id = frame.log_id.clone();
    // Counted in the request metrics as the unary RPC it stands for.
    let mut end = End::new("sqlited.v1.Database", rpc_name(&frame.kind));
    let answered = tokio::select! {
        (answered, code) = answer(&service, frame, &outbox) => {
            end.record(code);
            answered
        }
        Ok(()) = cancelled => {
            end.record(Code::Cancelled);
            let err = Error::Cancelled(format!("request {id} was cancelled by the client"));
            tracing::debug!(request_id = %log_id, "cancelled by the client");
            outbox.send(error(id, err.into_status(Some(&log_id))), deadline).await
        }
    };
    Finished {
        id: Some(id),
        broke: answered.err().map(|_| stalled(&log_id)),
    }
}

/// The RPC a request stands for, as its metrics label.
fn rpc_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Execute(_) => "Execute",
        Kind::Query(_) => "Query",
        Kind::ExecuteBatch(_) => "ExecuteBatch",
        Kind::Begin(_) => "Begin",
        Kind::Commit(_) => "Commit",
        Kind::Rollback(_) => "Rollback",
        Kind::More(_) | Kind::Cancel(_) => "Session",
    }
}

/// Answers the request; says whether its answer found room, and with which code it ended.
async fn answer(
    service: &DatabaseService,
    frame: Frame,
    outbox: &Outbox,
) -> (Result<(), Stalled>, Code) {
    let Frame {
        id,
        kind,
        unary,
        deadline,
        window,
        log_id,
    } = frame;
    let answer = match kind {
        Kind::Execute(r) => reply(service.execute(unary.request(r)).await, Answer::Execute),
        Kind::ExecuteBatch(r) => reply(
            service.execute_batch(unary.request(r)).await,
            Answer::ExecuteBatch,
        ),
        Kind::Begin(r) => reply(service.begin(unary.request(r)).await, Answer::Begin),
        Kind::Commit(r) => reply(service.commit(unary.request(r)).await, Answer::Commit),
        Kind::Rollback(r) => reply(service.rollback(unary.request(r)).await, Answer::Rollback),
        Kind::Query(r) => {
            let window = window.unwrap_or_else(|| Arc::new(Semaphore::new(1)));
            return match service.query(unary.request(r)).await {
                Ok(rows) => {
                    rows_in_frames(id, rows.into_inner(), &window, deadline, &log_id, outbox).await
                }
                Err(status) => {
                    let code = status.code();
                    (outbox.send(error(id, status), deadline).await, code)
                }
            };
        }
        // The driver answers these itself; they never reach here.
        Kind::More(_) | Kind::Cancel(_) => return (Ok(()), Code::Ok),
    };
    let code = match &answer {
        Answer::Error(e) => Code::from(e.code),
        _ => Code::Ok,
    };
    let sent = outbox
        .send(
            SessionResponse {
                request_id: id,
                response: Some(answer),
            },
            deadline,
        )
        .await;
    (sent, code)
}

/// Sends a query's messages as frames, each once the window has room for it.
async fn rows_in_frames(
    id: u64,
    mut rows: impl futures_core::Stream<Item = Result<QueryResponse, Status>> + Unpin,
    window: &Semaphore,
    deadline: Option<Instant>,
    log_id: &str,
    outbox: &Outbox,
) -> (Result<(), Stalled>, Code) {
    while let Some(message) = rows.next().await {
        let message = match message {
            Ok(message) => message,
            Err(status) => {
                let code = status.code();
                return (outbox.send(error(id, status), deadline).await, code);
            }
        };
        let last = message.summary.is_some();
        let room = window.acquire();
        let room = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.into(), room).await.ok(),
            None => Some(room.await),
        };
        match room {
            Some(Ok(permit)) => permit.forget(),
            _ => {
                // Dropping `rows` stops the statement and frees its connection.
                drop(rows);
                let err = Error::DeadlineExceeded(format!(
                    "the client read query {id}'s rows too slowly: it acknowledged none of \
                     the last {} frames (SessionRequest.more) before the request's deadline, \
                     so the statement was stopped to free the server's connection; send \
                     `more` as you consume frames, or fetch less per query (LIMIT, paging)",
                    super::QUERY_WINDOW
                ));
                let sent = outbox
                    .send(error(id, err.into_status(Some(log_id))), deadline)
                    .await;
                return (sent, Code::DeadlineExceeded);
            }
        }
        let frame = SessionResponse {
            request_id: id,
            response: Some(Answer::Query(message)),
        };
        if let Err(stalled) = outbox.send(frame, deadline).await {
            return (Err(stalled), Code::DeadlineExceeded);
        }
        if last {
            return (Ok(()), Code::Ok);
        }
    }
    // Every query's last message has its summary; should one not, the client still learns
    // the query is over.
    let end = QueryResponse {
        summary: Some(Default::default()),
        ..Default::default()
    };
    let sent = outbox
        .send(
            SessionResponse {
                request_id: id,
                response: Some(Answer::Query(end)),
            },
            deadline,
        )
        .await;
    (sent, Code::Ok)
}

/// A unary handler's answer as a frame's.
fn reply<T>(result: Result<tonic::Response<T>, Status>, wrap: fn(T) -> Answer) -> Answer {
    match result {
        Ok(response) => wrap(response.into_inner()),
        Err(status) => Answer::Error(error_frame(status)),
    }
}

fn error(id: u64, status: Status) -> SessionResponse {
    SessionResponse {
        request_id: id,
        response: Some(Answer::Error(error_frame(status))),
    }
}

/// A status as an error frame: its code, message and rich details.
pub(super) fn error_frame(status: Status) -> SessionError {
    SessionError {
        code: status.code() as i32,
        message: status.message().to_string(),
        details: status.details().to_vec(),
    }
}

/// The status that ends a session whose client stopped reading its answers.
pub(super) fn stalled(request_id: &str) -> Status {
    Error::DeadlineExceeded(
        "the client read the session's answers too slowly: they filled the session's buffer \
         (--session-max-buffered-bytes) and one waited there until its request's deadline, so \
         the session was ended (its transactions rolled back); read the stream as it arrives"
            .into(),
    )
    .into_status(Some(request_id))
}
