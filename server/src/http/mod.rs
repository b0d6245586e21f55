//! The HTTP/JSON gateway (`--http-listen`): SQL, transactions and exposed statements for
//! curl, browsers and any language, described by an OpenAPI 3.1 document.
//!
//! It is a translation, not a second implementation: every request becomes the gRPC
//! service's request message and is answered by the same [`DatabaseService`] and
//! [`StatementsService`] methods, with the token's principal in its extensions, its request
//! id and deadline in its metadata. Roles, the sandbox, limits, exposed-only databases,
//! transaction leases, logs and error mapping are the services' own; this module decodes
//! JSON, encodes results and statuses, and authenticates with the gRPC layer's function.
//!
//! Layout:
//! - [`routes`]: the endpoints and their handlers.
//! - [`accept`]: the `Accept` header against what an endpoint produces (406 otherwise).
//! - [`csv`]: rows as CSV (`Accept: text/csv`).
//! - [`body`]: request bodies and query strings into request messages.
//! - [`json`]: bodies parsed as JSON strictly (a key given twice is refused).
//! - [`values`]: the lossless JSON encoding of SQLite values.
//! - [`stream`]: results as one JSON body or as NDJSON with backpressure.
//! - [`errors`]: statuses as JSON bodies and HTTP statuses.
//! - [`openapi`]: the OpenAPI document, with one operation per exposed statement.
//! - [`cors`]: which browser origins may call.

pub mod accept;
pub mod body;
pub mod cors;
pub mod csv;
pub mod errors;
pub mod json;
pub mod openapi;
pub mod routes;
pub mod stream;
pub mod values;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tokio::net::TcpListener;

use crate::auth::{CredentialsStore, Principal};
use crate::connections::Ambiguous;
use crate::engine::Engine;
use crate::error::Error;
use crate::service::database::DatabaseService;
use crate::service::statements::StatementsService;
use crate::statements::StatementsStore;
pub use cors::Cors;

/// The metrics' `service` label of gateway requests.
pub const SERVICE: &str = "http";

pub use crate::deadline::TIMEOUT_HEADER;

/// What every handler shares.
pub struct Gateway {
    pub(crate) database: DatabaseService,
    pub(crate) statements: StatementsService,
    pub(crate) store: Arc<StatementsStore>,
    pub(crate) engine: Arc<Engine>,
    pub(crate) credentials: Option<Arc<CredentialsStore>>,
    /// `--max-message-bytes`: the largest body accepted, and the largest JSON result.
    pub(crate) max_bytes: usize,
    pub(crate) cors: Cors,
    /// What `/readyz` asks: the health entries (draining) and the replication.
    pub(crate) health: Option<crate::service::health::Health>,
    pub(crate) replication: Option<Arc<crate::replication::Replication>>,
}

impl Gateway {
    /// A gateway over the same engine, statements and credentials as the gRPC services.
    pub fn new(
        database: DatabaseService,
        statements: StatementsService,
        store: Arc<StatementsStore>,
        engine: Arc<Engine>,
        credentials: Option<Arc<CredentialsStore>>,
        max_bytes: usize,
        cors: Cors,
    ) -> Self {
        Self {
            database,
            statements,
            store,
            engine,
            credentials,
            max_bytes,
            cors,
            health: None,
            replication: None,
        }
    }

    /// The gateway, its `/readyz` following `health` (NOT_SERVING once the server drains)
    /// and `replication`.
    pub fn with_readiness(
        mut self,
        health: crate::service::health::Health,
        replication: Option<Arc<crate::replication::Replication>>,
    ) -> Self {
        self.health = Some(health);
        self.replication = replication;
        self
    }
}

/// The probes of orchestrators: unauthenticated, cheap, never touching a database.
pub const PROBES: [&str; 2] = ["/healthz", "/readyz"];

/// One admitted request: its id, principal and deadline, as the middleware found them.
#[derive(Clone)]
pub struct Call {
    pub request_id: String,
    pub principal: Option<Arc<Principal>>,
    pub timeout: Option<Duration>,
    /// The format of the answer, as the `Accept` header chose it ([`accept`]).
    pub format: accept::Format,
}

impl Call {
    /// `message` as a gRPC request of this call: the principal in its extensions (as the
    /// auth layer puts it), the request id and the deadline (`grpc-timeout`) in its metadata.
    pub fn grpc<T>(&self, message: T) -> tonic::Request<T> {
        let mut metadata = tonic::metadata::MetadataMap::new();
        if let Ok(id) = self.request_id.parse() {
            metadata.insert("x-request-id", id);
        }
        if let Some(timeout) = self.timeout {
            // grpc-timeout takes at most 8 digits.
            let ms = timeout.as_millis().min(99_999_999);
            if let Ok(value) = format!("{ms}m").parse() {
                metadata.insert("grpc-timeout", value);
            }
        }
        let mut extensions = tonic::Extensions::new();
        if let Some(principal) = &self.principal {
            extensions.insert(Arc::clone(principal));
        }
        tonic::Request::from_parts(metadata, extensions, message)
    }

    /// The principal's name, the owner of its transactions (the gateway has no sessions).
    pub fn owner(&self) -> crate::engine::transactions::Owner<'_> {
        crate::engine::transactions::Owner {
            token: self.principal.as_ref().map(|p| p.name.as_str()),
            session: None,
        }
    }
}

/// The RPC a response answered, for the metrics; `streamed` when its body records itself.
#[derive(Clone, Copy)]
pub struct Rpc {
    pub name: &'static str,
    pub streamed: bool,
}

/// Before every handler: the request id, the refusal of a request whose framing is
/// ambiguous ([`crate::connections`] found it), the browser origin check, the deadline header
/// and the token; after it: `x-request-id`, CORS headers and the request's metrics.
async fn admit(State(gateway): State<Arc<Gateway>>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let headers = request.headers();
    let request_id = crate::service::request_id::request_id(
        headers.get("x-request-id").and_then(|v| v.to_str().ok()),
    );
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ambiguous = request.extensions().get::<Ambiguous>().cloned();
    let admission = match ambiguous.clone() {
        Some(Ambiguous(why)) => Err(Error::invalid("headers", why)),
        None => admitted(&gateway, &request, origin.as_deref()),
    };
    let mut response = match admission {
        Ok(Some(call)) => {
            let mut call = call;
            call.request_id = request_id.clone();
            let path = request.uri().path();
            let offered = if path.ends_with("/query") || path.contains("/call/") {
                accept::ROWS
            } else {
                accept::JSON
            };
            let asked = request
                .headers()
                .get(header::ACCEPT)
                .map(|v| v.to_str().unwrap_or("\u{0}"));
            match accept::negotiate(asked, offered) {
                Some(format) => {
                    call.format = format;
                    request.extensions_mut().insert(call);
                    next.run(request).await
                }
                None => not_acceptable(asked.unwrap_or_default(), offered, &request_id),
            }
        }
        Ok(None) => gateway
            .cors
            .preflight(origin.as_deref().unwrap_or_default()),
        Err(err) => {
            let mut refused = errors::error(err, &request_id);
            if refused.status() == axum::http::StatusCode::UNAUTHORIZED {
                refused.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"sqlited\""),
                );
            }
            refused
        }
    };
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", id);
    }
    if ambiguous.is_some() {
        // What follows on the connection cannot be told apart from this request's body.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let Some(origin) = origin.as_deref().filter(|o| gateway.cors.allows(o)) {
        gateway.cors.decorate(origin, response.headers_mut());
    }
    let rpc = response.extensions().get::<Rpc>().copied();
    if !rpc.is_some_and(|r| r.streamed) {
        let code = response
            .extensions()
            .get::<tonic::Code>()
            .copied()
            .unwrap_or(tonic::Code::Ok);
        let name = rpc.map_or("unknown", |r| r.name);
        crate::metrics::request(SERVICE, name, code, started.elapsed());
    }
    response
}

/// The call of `request` (its request id still to set), `None` for a preflight to answer,
/// or why it is refused.
fn admitted(
    gateway: &Gateway,
    request: &Request,
    origin: Option<&str>,
) -> Result<Option<Call>, Error> {
    let headers = request.headers();
    if let Some(err) =
        crate::connections::singletons::repeated(headers, crate::connections::singletons::HTTP)
    {
        return Err(err);
    }
    if let Some(origin) = origin {
        if !gateway.cors.allows(origin) {
            tracing::info!(
                origin,
                "refused: a browser origin not in --http-cors-origins"
            );
            return Err(Error::PermissionDenied(format!(
                "requests from the web origin {origin:?} are refused: this server allows \
                 browser calls only from the origins of --http-cors-origins"
            )));
        }
        if request.method() == Method::OPTIONS
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return Ok(None);
        }
    }
    let timeout = match headers.get(TIMEOUT_HEADER) {
        None => None,
        Some(value) => match value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(ms) if ms > 0 => Some(Duration::from_millis(ms)),
            _ => {
                return Err(Error::invalid(
                    TIMEOUT_HEADER,
                    "x-request-timeout-ms must be a whole number of milliseconds above 0",
                ));
            }
        },
    };
    let principal = match &gateway.credentials {
        None => None,
        Some(_) if PROBES.contains(&request.uri().path()) => None,
        Some(store) => Some(crate::auth::layer::authenticate(
            store,
            headers,
            request.uri().path(),
        )?),
    };
    Ok(Some(Call {
        request_id: String::new(),
        principal,
        timeout,
        format: accept::Format::Json,
    }))
}

/// The 406 of a request whose `Accept` header (`asked`) excludes every format of `offered`.
fn not_acceptable(asked: &str, offered: &[accept::Format], request_id: &str) -> Response {
    let formats: Vec<&str> = offered.iter().map(|f| f.media_type()).collect();
    let status = Error::FailedPrecondition(format!(
        "this endpoint answers {}, which the Accept header {asked:?} excludes (text/csv is \
         for the rows of query and call/{{name}})",
        formats.join(" or ")
    ))
    .into_status(Some(request_id));
    errors::respond_as(axum::http::StatusCode::NOT_ACCEPTABLE, &status, request_id)
}

/// The gateway's router.
pub fn router(gateway: Arc<Gateway>) -> axum::Router {
    routes::routes()
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&gateway),
            admit,
        ))
        .with_state(gateway)
}

/// Serves `gateway` on `listener` until `stop` completes, its connections bounded by `limits`
/// like the gRPC port's (per client, and in time).
pub fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    limits: crate::connections::Limits,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let app = router(gateway);
    tokio::spawn(crate::connections::serve(
        crate::listener::Socket::Tcp(listener),
        crate::connections::Protocol::Http,
        limits,
        move || app.clone(),
        stop,
    ))
}
