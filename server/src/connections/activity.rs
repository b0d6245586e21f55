//! What one connection is doing: its requests in flight (a request is in flight from its
//! headers until its response's body is sent or dropped, so a stream or a Session counts as
//! long as it lasts), since when it has been idle, and whether it was told to make room.
//! The connection's task waits on it for its idle deadline; the per-client cap reads it to
//! choose which connection to close.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use tokio::sync::{Notify, watch};
use tonic::transport::server::TcpConnectInfo;

use super::bodies::{Bounded, Rules, Waits};
use super::framing::Framing;

/// One connection's activity, shared by its task, its requests and its client's entry.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<State>,
    /// Turns true when the connection is told to go (idle, evicted, shutdown), so a
    /// long-lived request on it (a Session) ends itself instead of being cut.
    closing: watch::Sender<bool>,
    /// Woken at each change: the connection turns busy or idle, or is evicted. One
    /// waiter (the connection's task), so `notify_one` keeps a wake-up it has not awaited.
    changed: Notify,
    evicted: AtomicBool,
}

#[derive(Debug)]
struct State {
    in_flight: usize,
    /// When the last request ended (or the connection was accepted).
    idle_since: Instant,
}

impl Activity {
    /// A connection just accepted: idle, since now.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                in_flight: 0,
                idle_since: Instant::now(),
            }),
            closing: watch::Sender::new(false),
            changed: Notify::new(),
            evicted: AtomicBool::new(false),
        }
    }

    /// The connection is being shut down gracefully: its long-lived requests should end.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Since when the connection has had no request in flight; `None` while it has one.
    pub fn idle_since(&self) -> Option<Instant> {
        let state = self.state();
        (state.in_flight == 0).then_some(state.idle_since)
    }

    /// Tells the connection to close, to make room for another of its client.
    pub fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.changed.notify_one();
    }

    /// Whether [`evict`](Self::evict) was called.
    pub fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    /// Completes at the next change (or at once if one happened since the last wait).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Completes once the connection is evicted.
    pub async fn evicted(&self) {
        while !self.is_evicted() {
            self.changed().await;
        }
    }

    /// A request starts; it is in flight until the guard drops.
    pub(super) fn start(self: &Arc<Self>) -> Busy {
        let was_idle = {
            let mut state = self.state();
            state.in_flight += 1;
            state.in_flight == 1
        };
        // Only turning busy or idle matters to the connection's task.
        if was_idle {
            self.changed.notify_one();
        }
        Busy(Arc::clone(self))
    }
}

/// One request in flight.
pub(super) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let now_idle = {
            let mut state = self.0.state();
            state.in_flight -= 1;
            if state.in_flight == 0 {
                state.idle_since = Instant::now();
            }
            state.in_flight == 0
        };
        if now_idle {
            self.0.changed.notify_one();
        }
    }
}

/// The connection's service: counts its requests in flight, bounds each one's body
/// ([`Bounded`]), and gives each the connection's addresses (as tonic does, so
/// `Request::remote_addr` works) and, on HTTP/1, its framing's verdict (an [`Ambiguous`]
/// extension on a request to refuse).
#[derive(Clone)]
pub struct Track<S> {
    inner: S,
    activity: Arc<Activity>,
    addresses: TcpConnectInfo,
    framing: Option<Arc<Framing>>,
    bodies: Rules,
}

impl<S> Track<S> {
    pub fn new(
        inner: S,
        activity: Arc<Activity>,
        addresses: TcpConnectInfo,
        framing: Option<Arc<Framing>>,
        bodies: Rules,
    ) -> Self {
        Self {
            inner,
            activity,
            addresses,
            framing,
            bodies,
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for Track<S>
where
    S: tower::Service<Request<Bounded<ReqBody>>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<Tracked<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let held = Arc::new(Held {
            busy: Mutex::new(Some(self.activity.start())),
            activity: Arc::clone(&self.activity),
            streams: AtomicBool::new(false),
        });
        let (parts, body) = request.into_parts();
        let body = Bounded::new(
            body,
            &parts.headers,
            &self.bodies,
            Arc::clone(&held) as Arc<dyn Waits>,
        );
        let mut request = Request::from_parts(parts, body);
        request.extensions_mut().insert(Quiet(Arc::clone(&held)));
        request.extensions_mut().insert(self.addresses.clone());
        if let Some(ambiguous) = self.framing.as_ref().and_then(|f| f.next()) {
            request.extensions_mut().insert(ambiguous);
        }
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| Tracked { body, _held: held }))
        })
    }
}

/// A response body that keeps its request in flight until it is sent or dropped (unless
/// the request says it is [`Quiet`]).
pub struct Tracked<B> {
    body: B,
    _held: Arc<Held>,
}

/// A request's place among its connection's requests in flight.
pub(super) struct Held {
    /// `None` while the request is quiet.
    busy: Mutex<Option<Busy>>,
    activity: Arc<Activity>,
    /// Set by a request whose body is a stream its client may pause (a Session).
    streams: AtomicBool,
}

impl Waits for Held {
    /// The request waits on its client (its body's next bytes), or no longer does: it does
    /// not keep its connection busy meanwhile.
    fn waiting(&self, waiting: bool) {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        match (waiting, busy.is_some()) {
            (true, true) => *busy = None,
            (false, false) => *busy = Some(self.activity.start()),
            _ => {}
        }
    }

    /// Whether the request said its body is a stream ([`Quiet::streams`]).
    fn streams(&self) -> bool {
        self.streams.load(Ordering::Acquire)
    }
}

/// In a request's extensions: lets a long-lived request — a Session stream, open for as
/// long as its client lives — say when nothing is in flight on it, so that its connection
/// counts as idle meanwhile (for `--idle-timeout-ms` and the per-client cap), and learn when
/// its connection is told to go, to end itself first.
#[derive(Clone)]
pub struct Quiet(Arc<Held>);

impl Quiet {
    /// Whether the request has nothing in flight.
    pub fn set(&self, quiet: bool) {
        self.0.waiting(quiet);
    }

    /// The request's body is a stream of messages its client may pause between (it says
    /// itself when it is quiet): each message, not the whole body, must arrive within
    /// `--body-read-timeout-ms`.
    pub fn streams(&self) {
        self.0.streams.store(true, Ordering::Release);
    }

    /// Turns true when the connection is being closed.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.0.activity.closing.subscribe()
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn idle_until_a_request_and_again_after_it() {
        let activity = Arc::new(Activity::new());
        let accepted = activity.idle_since().unwrap();
        let first = activity.start();
        let second = activity.start();
        assert_eq!(activity.idle_since(), None);
        drop(first);
        assert_eq!(
            activity.idle_since(),
            None,
            "one request is still in flight"
        );
        drop(second);
        assert!(activity.idle_since().unwrap() >= accepted);
        assert!(!activity.is_evicted());
        activity.evict();
        assert!(activity.is_evicted());
    }
}
