//! Request metrics for every RPC of every service, taken at the HTTP level so that no handler
//! can forget them: the count by service, RPC and final gRPC status, and the latency until the
//! response's last frame (a streaming RPC is timed until its stream ends).
//!
//! The status is read where gRPC puts it: the response headers of a trailers-only answer (an
//! error before any message), else the trailers after the last message. A response dropped
//! before its end — the client went away — counts as CANCELLED, unless its handler said how
//! it ended ([`Outcome`], in the request's extensions for `Session`): a session whose client
//! disconnects once every answer was sent (a shell that exits) ended normally, OK.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tonic::body::Body;
use tower::{Layer, Service};

/// The layer, for `Server::builder().layer(..)`; put it outermost so it sees final statuses.
#[derive(Clone, Copy, Default)]
pub struct ObserveLayer;

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe { inner }
    }
}

/// The service [`ObserveLayer`] wraps around the router.
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let (service, rpc) = names(request.uri().path());
        let mut end = End::new(service, rpc);
        if rpc == "Session" {
            // Only the session's driver knows whether a client that vanished left work
            // behind.
            request.extensions_mut().insert(end.outcome());
        }
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = match response.await {
                Ok(response) => response,
                Err(err) => {
                    end.record(tonic::Code::Unknown);
                    return Err(err);
                }
            };
            if let Some(code) = status_in(response.headers()) {
                // Trailers-only: the answer is already complete.
                end.record(code);
                return Ok(response);
            }
            Ok(response.map(|inner| Body::new(Observed { inner, end })))
        })
    }
}

/// The services served, as label values.
const SERVICES: &[&str] = &[
    "sqlited.v1.Database",
    "sqlited.v1.KeyValue",
    "sqlited.v1.Statements",
    "sqlited.v1.Admin",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Every RPC of those services (a unit test checks the sqlited ones against the protos).
const METHODS: &[&str] = &[
    "Execute",
    "Query",
    "ExecuteBatch",
    "Open",
    "Begin",
    "Commit",
    "Rollback",
    "Session",
    "Get",
    "Set",
    "Delete",
    "Contains",
    "Len",
    "Scan",
    "SetMany",
    "DeleteMany",
    "Clear",
    "Call",
    "ListStatements",
    "ReloadStatements",
    "ListDatabases",
    "Checkpoint",
    "Optimize",
    "Vacuum",
    "Backup",
    "CreateDatabase",
    "DropDatabase",
    "Check",
    "Watch",
    "ServerReflectionInfo",
];

/// The service and RPC of a gRPC path `/package.Service/Method`, as static label values.
/// Anything else shares the label `unknown`, so a scanner cannot grow the metrics.
fn names(path: &str) -> (&'static str, &'static str) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (service, method) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let Some(service) = SERVICES.iter().find(|s| **s == service) else {
        return ("unknown", "unknown");
    };
    let method = METHODS.iter().find(|m| **m == method).unwrap_or(&"unknown");
    (service, method)
}

/// The `grpc-status` of a header or trailer map, if it has one.
fn status_in(headers: &HeaderMap) -> Option<tonic::Code> {
    let status = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .parse::<i32>()
        .ok()?;
    Some(tonic::Code::from_i32(status))
}

/// Records a request once, however its response ends: with the status its trailers carry,
/// else the one its handler set ([`Outcome`]), else CANCELLED (dropped before its end).
pub struct End {
    shared: Arc<Ended>,
}

/// What [`End`] and its [`Outcome`] handles share; recorded when the last of them goes, so
/// a handler still finishing (a session's driver noticing its client left) has its say.
struct Ended {
    service: &'static str,
    rpc: &'static str,
    started: Instant,
    /// The status of the response's trailers (or trailers-only headers), and when.
    trailers: OnceLock<(tonic::Code, Duration)>,
    /// The status the handler says the RPC ended with, and when.
    handler: OnceLock<(tonic::Code, Duration)>,
}

impl End {
    /// A request of `rpc` of `service` (static label values) that started now.
    pub fn new(service: &'static str, rpc: &'static str) -> Self {
        Self {
            shared: Arc::new(Ended {
                service,
                rpc,
                started: Instant::now(),
                trailers: OnceLock::new(),
                handler: OnceLock::new(),
            }),
        }
    }

    /// Records the request as ended with `code`; later calls do nothing.
    pub fn record(&mut self, code: tonic::Code) {
        let _ = self
            .shared
            .trailers
            .set((code, self.shared.started.elapsed()));
    }

    /// A handle through which the handler tells how the RPC ended.
    fn outcome(&self) -> Outcome {
        Outcome(Arc::clone(&self.shared))
    }
}

impl Drop for Ended {
    fn drop(&mut self) {
        let (code, elapsed) = self
            .trailers
            .get()
            .or(self.handler.get())
            .copied()
            .unwrap_or((tonic::Code::Cancelled, self.started.elapsed()));
        crate::metrics::request(self.service, self.rpc, code, elapsed);
    }
}

/// How an RPC ended, as its handler knows it: counted when the response is dropped without
/// a status (the client went away), instead of CANCELLED. In the request's extensions of a
/// `Session`.
#[derive(Clone)]
pub struct Outcome(Arc<Ended>);

impl Outcome {
    /// The RPC ended with `code` (the first call counts).
    pub fn set(&self, code: tonic::Code) {
        let _ = self.0.handler.set((code, self.0.started.elapsed()));
    }
}

/// A response body that records its request when its trailers pass.
struct Observed {
    inner: Body,
    end: End,
}

impl HttpBody for Observed {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(status_in) {
                    self.end.record(code);
                }
            }
            Poll::Ready(Some(Err(_))) => self.end.record(tonic::Code::Internal),
            // Ended without a status: gRPC clients read that as a broken response.
            Poll::Ready(None) => self.end.record(tonic::Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod test {
    use super::names;

    #[test]
    fn label_names() {
        assert_eq!(
            names("/sqlited.v1.Database/Execute"),
            ("sqlited.v1.Database", "Execute")
        );
        assert_eq!(
            names("/sqlited.v1.KeyValue/SetMany"),
            ("sqlited.v1.KeyValue", "SetMany")
        );
        assert_eq!(names("/evil.Service/X"), ("unknown", "unknown"));
        assert_eq!(
            names("/sqlited.v1.Admin/../../x"),
            ("sqlited.v1.Admin", "unknown")
        );
    }

    #[test]
    fn every_rpc_of_the_protos_has_its_label() {
        use prost::Message;
        let set = prost_types::FileDescriptorSet::decode(sqlited_proto::FILE_DESCRIPTOR_SET)
            .expect("descriptor set");
        for file in set.file {
            for service in &file.service {
                let name = format!("{}.{}", file.package(), service.name());
                assert!(super::SERVICES.contains(&name.as_str()), "{name}");
                for method in &service.method {
                    assert!(
                        super::METHODS.contains(&method.name()),
                        "{name}/{}",
                        method.name()
                    );
                }
            }
        }
    }
}
