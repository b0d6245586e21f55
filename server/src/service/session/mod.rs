//! `Database.Session`: many requests on one bidirectional stream.
//!
//! A session is a transport, not a second implementation: each request frame becomes the
//! unary RPC's request message — with the stream's token re-checked for it, its own deadline
//! and request id in its metadata, and the session's id in its extensions — and is answered
//! by the same [`DatabaseService`] method, so validation, roles, the sandbox, the engine's
//! routing, logs and error mapping are the unary RPCs' own. What the session adds is the
//! stream's bookkeeping: requests in flight by id, each query's flow-control window, the
//! answers' byte-bounded buffer, and the end that rolls its transactions back at once.
//!
//! Layout:
//! - this file: the limits, the session's id, and opening a session.
//! - [`driver`]: one session's loop: reading frames, running requests, ending.
//! - [`request`]: one request frame, run through the unary handler, answered in frames.
//! - [`outbox`]: answers waiting for the client, bounded in bytes.

mod driver;
mod outbox;
mod request;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlited_proto::v1::SessionRequest;
use tokio::sync::watch;
use tonic::{Request, Response, Status, Streaming};

pub use outbox::Outgoing;

use super::database::DatabaseService;
use crate::auth::CredentialsStore;

/// Frames of one query the server sends beyond those the client acknowledged.
pub const QUERY_WINDOW: u32 = 4;

/// Bounds of one session.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Requests in flight; one more fails with RESOURCE_EXHAUSTED.
    pub max_in_flight: usize,
    /// Bytes of answers held for a client that does not read them.
    pub max_buffered_bytes: usize,
    /// The largest frame taken (`--max-message-bytes`), told to clients.
    pub max_message_bytes: usize,
}

pub use super::context::SessionId;

/// What every session of a server shares.
pub struct Sessions {
    limits: SessionLimits,
    /// The credentials each request's token is checked against again; `None`: auth off.
    credentials: Option<Arc<CredentialsStore>>,
    /// Turns true when the server starts shutting down: sessions stop taking requests.
    draining: watch::Receiver<bool>,
    next_id: AtomicU64,
}

impl Sessions {
    /// Sessions bounded by `limits`, checking tokens against `credentials`, ending when
    /// `draining` turns true.
    pub fn new(
        limits: SessionLimits,
        credentials: Option<Arc<CredentialsStore>>,
        draining: watch::Receiver<bool>,
    ) -> Self {
        Self {
            limits,
            credentials,
            draining,
            next_id: AtomicU64::new(1),
        }
    }
}

/// Opens a session on `service`: answers the response headers at once and runs the session
/// on a task of its own until it ends.
pub(super) fn open(
    service: &DatabaseService,
    sessions: &Arc<Sessions>,
    request: Request<Streaming<SessionRequest>>,
) -> Result<Response<Outgoing>, Status> {
    let id = sessions.next_id.fetch_add(1, Ordering::Relaxed);
    let request_id = super::request_id::request_id(
        request
            .metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
    );
    let (outbox, outgoing) = outbox::Outbox::new(sessions.limits.max_buffered_bytes);
    let session = driver::Session::new(service, sessions, id, request_id.clone(), &request);
    tokio::spawn(session.run(request.into_inner(), outbox));
    let mut response = super::context::tag(Response::new(outgoing), &request_id);
    let headers = response.metadata_mut();
    headers.insert(
        "sqlited-session-max-in-flight",
        sessions.limits.max_in_flight.into(),
    );
    headers.insert("sqlited-session-query-window", QUERY_WINDOW.into());
    headers.insert(
        "sqlited-session-max-message-bytes",
        sessions.limits.max_message_bytes.into(),
    );
    Ok(response)
}
