//! One session's loop, on one task: it reads request frames, runs the requests in flight
//! side by side (polled here, not one task each), routes `more` and `cancel` frames to
//! them, and ends the session — the client closed its side and everything was answered, the
//! client went away, the stream broke, or the server is draining — rolling back at once any
//! transaction begun on it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use sqlited_proto::v1::session_request::Request as Kind;
use sqlited_proto::v1::{SessionRequest, SessionResponse, session_response};
use tokio::sync::{Semaphore, oneshot};
use tonic::{Status, Streaming};

use super::outbox::Outbox;
use super::request::{self, Frame, Unary};
use super::{QUERY_WINDOW, SessionId, Sessions};
use crate::engine::Engine;
use crate::error::Error;
use crate::service::database::DatabaseService;
use crate::service::observe::Outcome;

/// The most unacknowledged frames a client may grant one query.
const MAX_WINDOW: usize = 1 << 16;

/// A session being served.
pub(super) struct Session {
    service: Arc<DatabaseService>,
    sessions: Arc<Sessions>,
    id: u64,
    /// The stream's request id; each request's is this, `.` and its id.
    request_id: String,
    /// The stream's `authorization` header, checked again for every request.
    authorization: http::HeaderMap,
    /// The principal the auth layer found for the stream (used as is when auth is off).
    principal: Option<Arc<crate::auth::Principal>>,
    /// The stream's place on its connection: quiet while no request is in flight (the
    /// connection may then be closed for being idle, or to make room for another of its
    /// client), and told when the connection is closing (the session then ends first).
    quiet: Option<crate::connections::Quiet>,
    /// Where the session's end is told to the request metrics, which would otherwise count
    /// a client that disconnects (rather than closing its side) as CANCELLED.
    outcome: Option<Outcome>,
}

/// A request in flight.
struct Flight {
    /// Stops it (a `cancel` frame).
    cancel: Option<oneshot::Sender<()>>,
    /// A query's window: one permit per frame it may still send.
    window: Option<Arc<Semaphore>>,
}

/// What a request future reports when it is done.
pub(super) struct Finished {
    /// The request's id, when it was in flight (refusals are not).
    pub id: Option<u64>,
    /// The session cannot go on: it ends with this status.
    pub broke: Option<Status>,
}

/// Rolls back the session's transactions however its task ends.
struct BoundTransactions {
    engine: Arc<Engine>,
    session: u64,
    began: bool,
}

impl Drop for BoundTransactions {
    fn drop(&mut self) {
        if self.began {
            self.engine.transactions().end_session(self.session);
        }
    }
}

impl Session {
    pub(super) fn new<T>(
        service: &DatabaseService,
        sessions: &Arc<Sessions>,
        id: u64,
        request_id: String,
        request: &tonic::Request<T>,
    ) -> Self {
        let mut authorization = http::HeaderMap::new();
        if let Some(value) = request.metadata().get("authorization")
            && let Ok(value) = http::HeaderValue::from_bytes(value.as_bytes())
        {
            authorization.insert(http::header::AUTHORIZATION, value);
        }
        Self {
            service: Arc::new(service.clone()),
            sessions: Arc::clone(sessions),
            id,
            request_id,
            authorization,
            principal: request
                .extensions()
                .get::<Arc<crate::auth::Principal>>()
                .cloned(),
            quiet: request
                .extensions()
                .get::<crate::connections::Quiet>()
                .inspect(|quiet| quiet.streams())
                .cloned(),
            outcome: request.extensions().get::<Outcome>().cloned(),
        }
    }

    /// Serves the session until it ends.
    pub(super) async fn run(self, mut inbound: Streaming<SessionRequest>, outbox: Outbox) {
        let span = tracing::info_span!("Session", request_id = %self.request_id, session = self.id);
        let mut bound = BoundTransactions {
            engine: Arc::clone(self.service.engine()),
            session: self.id,
            began: false,
        };
        let max = self.sessions.limits.max_in_flight;
        let mut draining = self.sessions.draining.clone();
        let mut reading = !*draining.borrow_and_update();
        let mut drained = !reading;
        let mut closing = self.quiet.as_ref().map(crate::connections::Quiet::closing);
        let mut moved = false;
        let mut flights: HashMap<u64, Flight> = HashMap::new();
        let mut running: FuturesUnordered<BoxFuture<'static, Finished>> = FuturesUnordered::new();
        let started = Instant::now();
        let mut requests = 0u64;
        // The client went away with requests running or answers it had not taken: those
        // were cancelled. Gone with everything answered, it simply ended the session.
        let mut abandoned = false;
        tracing::debug!(parent: &span, "session opened");
        let ending: Option<Status> = loop {
            if !reading && running.is_empty() {
                break None;
            }
            if let Some(quiet) = &self.quiet {
                quiet.set(running.is_empty());
            }
            tokio::select! {
                biased;
                () = outbox.closed() => {
                    tracing::debug!(parent: &span, in_flight = flights.len(), "the client went away");
                    abandoned = !running.is_empty();
                    break None;
                }
                Some(finished) = running.next(), if !running.is_empty() => {
                    if let Some(id) = finished.id {
                        flights.remove(&id);
                    }
                    if let Some(status) = finished.broke {
                        break Some(status);
                    }
                }
                changed = draining.changed(), if reading => {
                    if changed.is_err() || *draining.borrow() {
                        reading = false;
                        drained = true;
                    }
                }
                // The connection closes at shutdown too: the draining message wins then.
                () = connection_closing(&mut closing), if reading => {
                    reading = false;
                    drained = *draining.borrow();
                    moved = !drained;
                }
                // Refusals wait in `running` too, so a client that floods without reading
                // is held back by the transport once there are twice the limit.
                frame = inbound.message(), if reading && running.len() < 2 * max => match frame {
                    Ok(Some(frame)) => {
                        requests += 1;
                        bound.began |= matches!(frame.request, Some(Kind::Begin(_)));
                        if let Some(future) = self.accept(frame, &mut flights, &outbox) {
                            running.push(future);
                        }
                    }
                    Ok(None) => reading = false,
                    // The transport failed under the stream: the client went away
                    // (a process that exits without closing its session, say).
                    Err(status) if matches!(status.code(), tonic::Code::Unknown | tonic::Code::Cancelled) => {
                        tracing::debug!(parent: &span, error = %status.message(), "the client went away");
                        abandoned = !running.is_empty() || !outbox.is_empty();
                        break None;
                    }
                    Err(status) => {
                        tracing::info!(parent: &span, code = ?status.code(), error = %status.message(),
                            "the session's stream broke");
                        break Some(self.broken_stream(status));
                    }
                },
            }
        };
        // Dropping the requests in flight cancels them; then their transactions roll back.
        drop(running);
        drop(flights);
        drop(bound);
        let elapsed_us = started.elapsed().as_micros() as u64;
        if let Some(outcome) = &self.outcome {
            outcome.set(match &ending {
                Some(status) => status.code(),
                None if drained => tonic::Code::Unavailable,
                None if abandoned => tonic::Code::Cancelled,
                None => tonic::Code::Ok,
            });
        }
        match ending {
            Some(status) => {
                tracing::info!(parent: &span, requests, elapsed_us, code = ?status.code(), "session failed");
                outbox.end(status);
            }
            None if drained => {
                tracing::debug!(parent: &span, requests, elapsed_us, "session ended: draining");
                outbox.end(
                    Error::Unavailable(
                        "the server is shutting down: this session takes no more requests \
                         (those in flight were answered); reconnect, to this server once it is \
                         back or to another"
                            .into(),
                    )
                    .into_status(Some(&self.request_id)),
                );
            }
            None if moved => {
                tracing::debug!(parent: &span, requests, elapsed_us, "session ended: its connection closes");
                outbox.end(
                    Error::Unavailable(
                        "this connection is closing (idle past --idle-timeout-ms, or making \
                         room for another connection of this client): the session takes no \
                         more requests (those in flight were answered); open a new session"
                            .into(),
                    )
                    .into_status(Some(&self.request_id)),
                );
            }
            None => tracing::debug!(parent: &span, requests, elapsed_us, "session ended"),
        }
    }

    /// Takes one frame: a request to run (its future), a refusal to answer, or a `more` or
    /// `cancel` for a request in flight (nothing to run).
    fn accept(
        &self,
        frame: SessionRequest,
        flights: &mut HashMap<u64, Flight>,
        outbox: &Outbox,
    ) -> Option<BoxFuture<'static, Finished>> {
        let id = frame.request_id;
        let kind = match frame.request {
            Some(Kind::More(more)) => {
                if let Some(window) = flights.get(&id).and_then(|f| f.window.as_ref()) {
                    let room = MAX_WINDOW.saturating_sub(window.available_permits());
                    window.add_permits((more.frames as usize).min(room));
                }
                return None;
            }
            Some(Kind::Cancel(_)) => {
                if let Some(cancel) = flights.get_mut(&id).and_then(|f| f.cancel.take()) {
                    let _ = cancel.send(());
                }
                return None;
            }
            Some(kind) => kind,
            None => {
                return Some(self.refuse(
                    id,
                    Error::invalid(
                        "request",
                        "the frame carries no request: set one of execute, query, \
                         execute_batch, begin, commit, rollback, more or cancel",
                    ),
                    outbox,
                ));
            }
        };
        if flights.contains_key(&id) {
            return Some(self.refuse(
                id,
                Error::invalid(
                    "request_id",
                    format!(
                        "request {id} is already in flight on this session; give each request \
                         an id unique among those not yet answered"
                    ),
                ),
                outbox,
            ));
        }
        let max = self.sessions.limits.max_in_flight;
        if flights.len() >= max {
            return Some(self.refuse(
                id,
                Error::ResourceExhausted {
                    message: format!(
                        "{max} requests are already in flight on this session, the most it \
                         takes (--session-max-in-flight); wait for answers before sending more"
                    ),
                    retryable: true,
                },
                outbox,
            ));
        }
        let timeout = self.timeout(frame.timeout_ms);
        let log_id = self.log_id(id);
        let unary = match self.unary_parts(&log_id, frame.timeout_ms) {
            Ok(unary) => unary,
            Err(err) => return Some(self.refuse(id, err, outbox)),
        };
        let (cancel, cancelled) = oneshot::channel();
        let window =
            matches!(kind, Kind::Query(_)).then(|| Arc::new(Semaphore::new(QUERY_WINDOW as usize)));
        flights.insert(
            id,
            Flight {
                cancel: Some(cancel),
                window: window.clone(),
            },
        );
        let frame = Frame {
            id,
            kind,
            unary,
            log_id,
            deadline: timeout.map(|t| Instant::now() + t),
            window,
        };
        Some(Box::pin(request::run(
            Arc::clone(&self.service),
            frame,
            outbox.clone(),
            cancelled,
        )))
    }

    /// The status that ends a session whose request stream broke with `status`: a frame
    /// too large is RESOURCE_EXHAUSTED, as a unary request too large is.
    fn broken_stream(&self, status: Status) -> Status {
        if status.code() != tonic::Code::OutOfRange {
            return status;
        }
        Error::ResourceExhausted {
            message: format!(
                "a frame is larger than this server takes (--max-message-bytes {}, in the \
                 session's header sqlited-session-max-message-bytes): {}; the session was \
                 ended; send such a request as a unary call, or make it smaller",
                self.sessions.limits.max_message_bytes,
                status.message()
            ),
            retryable: false,
        }
        .into_status(Some(&self.request_id))
    }

    /// A request's deadline: its `timeout_ms`, bounded by the server's statement timeout.
    fn timeout(&self, timeout_ms: u32) -> Option<Duration> {
        let own = (timeout_ms > 0).then(|| Duration::from_millis(u64::from(timeout_ms)));
        match (own, self.service.statement_timeout()) {
            (Some(own), Some(server)) => Some(own.min(server)),
            (own, server) => own.or(server),
        }
    }

    /// The log id of request `id`: the session's, `.`, the id — if that is a usable request
    /// id (64 characters at most); else a new one.
    fn log_id(&self, id: u64) -> String {
        crate::service::request_id::request_id(Some(&format!("{}.{id}", self.request_id)))
    }

    /// What a request needs to look like a unary call: its principal (the stream's token,
    /// authenticated again, rate limit included), and this session's id.
    fn unary_parts(&self, log_id: &str, timeout_ms: u32) -> Result<Unary, Error> {
        let principal = match &self.sessions.credentials {
            None => self.principal.clone(),
            Some(store) => Some(crate::auth::layer::authenticate(
                store,
                &self.authorization,
                "/sqlited.v1.Database/Session",
            )?),
        };
        Ok(Unary {
            principal,
            session: SessionId(self.id),
            log_id: log_id.to_string(),
            timeout_ms,
        })
    }

    /// A future that answers request `id` with `err` (it was never in flight).
    fn refuse(&self, id: u64, err: Error, outbox: &Outbox) -> BoxFuture<'static, Finished> {
        let log_id = self.log_id(id);
        tracing::info!(request_id = %log_id, code = ?err.code(), error = %err, "session request refused");
        let frame = SessionResponse {
            request_id: id,
            response: Some(session_response::Response::Error(request::error_frame(
                err.into_status(Some(&log_id)),
            ))),
        };
        let deadline = self.timeout(0).map(|t| Instant::now() + t);
        let outbox = outbox.clone();
        let session_id = self.request_id.clone();
        Box::pin(async move {
            let broke = outbox
                .send(frame, deadline)
                .await
                .err()
                .map(|_| request::stalled(&session_id));
            Finished { id: None, broke }
        })
    }
}

/// Completes when the session's connection is closing (never, for a session without one).
async fn connection_closing(closing: &mut Option<tokio::sync::watch::Receiver<bool>>) {
    match closing {
        Some(closing) => {
            if closing.wait_for(|closing| *closing).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}
