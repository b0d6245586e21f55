//! The endpoints, under `/v1`:
//!
//! | method, path | does |
//! | --- | --- |
//! | `GET /healthz`, `GET /readyz` | liveness, readiness (no token) |
//! | `GET /v1/databases` | the databases the token may see |
//! | `POST /v1/databases/{db}/query` | one statement, its rows (`Query`) |
//! | `GET /v1/databases/{db}/query?q=…&p=…` | the same, read-only (`Query` with `read_only`) |
//! | `POST /v1/databases/{db}/execute` | one statement, its counts (`Execute`) |
//! | `POST /v1/databases/{db}/batch` | statements all or nothing (`ExecuteBatch`) |
//! | `POST /v1/databases/{db}/transactions` | begin (`Begin`) |
//! | `POST /v1/databases/{db}/transactions/{tx}/{query,execute,batch}` | inside it |
//! | `POST /v1/databases/{db}/transactions/{tx}/{commit,rollback}` | end it |
//! | `GET`/`POST /v1/databases/{db}[/transactions/{tx}]/call/{name}` | an exposed statement |
//! | `GET /v1/databases/{db}/statements`, `GET /v1/statements` | `ListStatements` |
//! | `POST /v1/statements/reload` | `ReloadStatements` |
//! | `GET /v1/openapi.json` | the OpenAPI 3.1 document |

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value as Json, json};
use sqlited_proto::v1::database_server::Database as _;
use sqlited_proto::v1::statements_server::Statements as _;
use sqlited_proto::v1::{
    BeginRequest, CallRequest, CommitRequest, ExecuteBatchRequest, ExecuteRequest,
    ListStatementsRequest, QueryRequest, ReloadStatementsRequest, RollbackRequest,
};
use tokio_stream::StreamExt;
use tonic::Status;

use super::accept::Format;
use super::body::{self, Refused};
use super::stream::{NdJson, collect, execute_result};
use super::{Call, Gateway, Rpc, SERVICE, errors};
use crate::error::Error;
use crate::service::observe::End;
use crate::service::response_stream::ResponseRows;

type Shared = State<Arc<Gateway>>;

/// Path parameters, or a 400 JSON error when they do not decode (percent-encoded bytes
/// that are not UTF-8, say) — never axum's plain-text rejection.
pub struct Path<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => {
                let request_id = parts
                    .extensions
                    .get::<Call>()
                    .map_or_else(String::new, |c| c.request_id.clone());
                Err(errors::error(
                    Error::invalid(
                        "path",
                        format!("the path does not decode: {}", rejection.body_text()),
                    ),
                    &request_id,
                ))
            }
        }
    }
}

/// Every route of the gateway (state and middleware are added by [`super::router`]).
pub fn routes() -> axum::Router<Arc<Gateway>> {
    axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/databases", get(list_databases))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/statements", get(list_all))
        .route("/v1/statements/reload", post(reload))
        .route("/v1/databases/{db}/statements", get(list_database))
        .route("/v1/databases/{db}/query", get(query_get).post(query))
        .route("/v1/databases/{db}/execute", post(execute))
        .route("/v1/databases/{db}/batch", post(batch))
        .route("/v1/databases/{db}/call/{name}", get(call).post(call))
        .route("/v1/databases/{db}/transactions", post(begin))
        .route("/v1/databases/{db}/transactions/{tx}/query", post(query))
        .route(
            "/v1/databases/{db}/transactions/{tx}/execute",
            post(execute),
        )
        .route("/v1/databases/{db}/transactions/{tx}/batch", post(batch))
        .route("/v1/databases/{db}/transactions/{tx}/commit", post(commit))
        .route(
            "/v1/databases/{db}/transactions/{tx}/rollback",
            post(rollback),
        )
        .route(
            "/v1/databases/{db}/transactions/{tx}/call/{name}",
            get(call).post(call),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
}

/// Marks `response` as the answer of `rpc`, for the metrics.
fn answered(mut response: Response, rpc: &'static str) -> Response {
    response.extensions_mut().insert(Rpc {
        name: rpc,
        streamed: false,
    });
    response
}

fn json_ok(value: &Json) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// The body as a JSON object, or the answer refusing it.
async fn object(
    gateway: &Gateway,
    call: &Call,
    headers: &HeaderMap,
    body: Body,
) -> Result<Map<String, Json>, Response> {
    let bytes = match body::read(body, headers, gateway.max_bytes).await {
        Ok(bytes) => bytes,
        Err(Refused::TooLarge(limit)) => {
            let status = Error::ResourceExhausted {
                message: format!(
                    "the request body is larger than this server accepts (--max-message-bytes \
                     {limit}); send less per request, e.g. split a batch"
                ),
                retryable: false,
            }
            .into_status(Some(&call.request_id));
            return Err(errors::respond_as(
                StatusCode::PAYLOAD_TOO_LARGE,
                &status,
                &call.request_id,
            ));
        }
        Err(Refused::Connection(status)) => {
            let http = match status.code() {
                tonic::Code::DeadlineExceeded => StatusCode::REQUEST_TIMEOUT,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            let mut refused = errors::respond_as(http, &status, &call.request_id);
            // The body's rest is unread: nothing after it on the connection can be framed.
            refused
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Err(refused);
        }
        Err(Refused::Bad(err)) => return Err(errors::error(err, &call.request_id)),
    };
    body::object(&bytes).map_err(|err| errors::error(err, &call.request_id))
}

/// The body decoded by `decode`, or the answer (for `rpc`'s metrics) refusing it.
async fn decoded_body<T>(
    gateway: &Gateway,
    call: &Call,
    headers: &HeaderMap,
    body: Body,
    rpc: &'static str,
    decode: impl FnOnce(&Map<String, Json>) -> Result<T, Error>,
) -> Result<T, Response> {
    let object = object(gateway, call, headers, body)
        .await
        .map_err(|refused| answered(refused, rpc))?;
    decode(&object).map_err(|err| answered(errors::error(err, &call.request_id), rpc))
}

/// The value of a decoding `Result`, or (from the handler) its error answered as a 400.
macro_rules! decoded {
    ($call:expr, $result:expr) => {
        match $result {
            Ok(value) => value,
            Err(err) => return errors::error(err, &$call.request_id),
        }
    };
}

/// A unary RPC's answer: `render` of its message, or its status.
fn unary<T>(
    call: &Call,
    rpc: &'static str,
    result: Result<tonic::Response<T>, Status>,
    render: impl FnOnce(&T) -> Json,
) -> Response {
    let response = match result {
        Ok(response) => json_ok(&render(response.get_ref())),
        Err(status) => errors::respond(&status, &call.request_id),
    };
    answered(response, rpc)
}

/// A streaming RPC's answer (Query, Call): NDJSON when asked, else one JSON result.
async fn rows(
    gateway: &Gateway,
    call: &Call,
    rpc: &'static str,
    result: Result<tonic::Response<ResponseRows>, Status>,
) -> Response {
    let mut rows = match result {
        Ok(response) => response.into_inner(),
        Err(status) => return answered(errors::respond(&status, &call.request_id), rpc),
    };
    let format = call.format;
    if format != Format::NdJson {
        let collected = match format {
            Format::Csv => super::csv::collect(rows, gateway.max_bytes).await,
            _ => collect(rows, gateway.max_bytes).await,
        };
        let response = match collected {
            Ok(bytes) => {
                let media = match format {
                    Format::Csv => "text/csv; charset=utf-8; header=present",
                    _ => "application/json",
                };
                (StatusCode::OK, [(header::CONTENT_TYPE, media)], bytes).into_response()
            }
            Err(status) => errors::respond(&status, &call.request_id),
        };
        return answered(response, rpc);
    }
    // An error before the first message gets its own status; later ones end the stream.
    let first = match rows.next().await {
        Some(Err(status)) => return answered(errors::respond(&status, &call.request_id), rpc),
        Some(Ok(message)) => Some(message),
        None => None,
    };
    let stream = NdJson::new(rows, first, call.request_id.clone(), End::new(SERVICE, rpc));
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response.extensions_mut().insert(Rpc {
        name: rpc,
        streamed: true,
    });
    response
}

/// Where a request runs: its database and, under `/transactions/{tx}/`, its transaction.
#[derive(serde::Deserialize)]
struct Scope {
    db: String,
    #[serde(default)]
    tx: String,
}

/// The scope of a call, with the statement's name.
#[derive(serde::Deserialize)]
struct CallScope {
    db: String,
    #[serde(default)]
    tx: String,
    name: String,
}

async fn query(
    State(g): Shared,
    Extension(c): Extension<Call>,
    Path(scope): Path<Scope>,
    h: HeaderMap,
    b: Body,
) -> Response {
    let statement = match decoded_body(&g, &c, &h, b, "Query", |o| body::statement(o, "")).await {
        Ok(decoded) => decoded,
        Err(refused) => return refused,
    };
    let request = QueryRequest {
        database: scope.db,
        statement: Some(statement),
        transaction_id: scope.tx,
        read_only: false,
    };
    let result = g.database.query(c.grpc(request)).await;
    rows(&g, &c, "Query", result).await
}

/// `GET …/query?q=SQL` with parameters `p=JSON` (positional, repeated in order) or
/// `:name=JSON` (named; `@name`, `$name` too), each value in the JSON encoding of bodies:
/// read-only, so the read role is enough and a statement that writes is refused (405: use
/// POST).
async fn query_get(
    State(g): Shared,
    Extension(c): Extension<Call>,
    Path(scope): Path<Scope>,
    uri: Uri,
) -> Response {
    let statement = match body::query_statement(uri.query().unwrap_or("")) {
        Ok(statement) => statement,
        Err(err) => return answered(errors::error(err, &c.request_id), "Query"),
    };
    let request = QueryRequest {
        database: scope.db.clone(),
        statement: Some(statement),
        transaction_id: String::new(),
        read_only: true,
    };
    let result = g.database.query(c.grpc(request)).await;
    if let Err(status) = &result {
        use tonic_types::StatusExt as _;
        let writes = status
            .get_error_details()
            .error_info()
            .is_some_and(|info| info.reason == "SQLITE_READONLY");
        if writes {
            let details = tonic_types::ErrorDetails::with_error_info(
                "METHOD_NOT_ALLOWED",
                crate::error::ERROR_DOMAIN,
                HashMap::from([("request_id".to_string(), c.request_id.clone())]),
            );
            let status = Status::with_error_details(
                tonic::Code::FailedPrecondition,
                format!(
                    "the statement writes, and GET runs statements read-only: send it with \
                     POST /v1/databases/{}/query (or /execute) and a JSON body {{\"sql\": …}}",
                    scope.db
                ),
                details,
            );
            let mut refused =
                errors::respond_as(StatusCode::METHOD_NOT_ALLOWED, &status, &c.request_id);
            refused
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return answered(refused, "Query");
        }
    }
    rows(&g, &c, "Query", result).await
}

async fn execute(
    State(g): Shared,
    Extension(c): Extension<Call>,
    Path(scope): Path<Scope>,
    h: HeaderMap,
    b: Body,
) -> Response {
    let statement = match decoded_body(&g, &c, &h, b, "Execute", |o| body::statement(o, "")).await {
        Ok(decoded) => decoded,
        Err(refused) => return refused,
    };
    let request = ExecuteRequest {
        database: scope.db,
        statement: Some(statement),
        transaction_id: scope.tx,
    };
    let result = g.database.execute(c.grpc(request)).await;
    unary(&c, "Execute", result, execute_result)
}

async fn batch(
    State(g): Shared,
    Extension(c): Extension<Call>,
    Path(scope): Path<Scope>,
    h: HeaderMap,
    b: Body,
) -> Response {
    let statements = match decoded_body(&g, &c, &h, b, "ExecuteBatch", body::batch).await {
        Ok(decoded) => decoded,
        Err(refused) => return refused,
    };
    let request = ExecuteBatchRequest {
        database: scope.db,
        statements,
        transaction_id: scope.tx,
    };
    let result = g.database.execute_batch(c.grpc(request)).await;
    unary(
        &c,
        "ExecuteBatch",
        result,
        |r| json!({"results": r.results.iter().map(execute_result).collect::<Vec<_>>()}),
    )
}

async fn begin(
    State(g): Shared,
    Extension(c): Extension<Call>,
    Path(Scope { db: database, .. }): Path<Scope>,
    h: HeaderMap,
    b: Body,
) -> Response {
    let object = match object(&g, &c, &h, b).await {
        Ok(object) => object,
        Err(refused) => return answered(refused, "Begin"),
    };
    decoded!(
        c,
        body::only(&object, &["read_only", "mode", "lease_ms"], "")
    );
    let read_only = decoded!(c, body::flag(&object, "read_only"));
    let lease_ms = decoded!(c, body::u32_field(&object, "lease_ms"));
    let mode = match decoded!(c, body::string(&object, "mode")) {
        None | Some("deferred") => 0,
        Some("immediate") => 1,
        Some("exclusive") => 2,
        Some(other) => {
            return errors::error(
                Error::invalid(
                    "mode",
                    format!("unknown mode {other:?}; use deferred, immediate or exclusive"),
                ),
                &c.request_id,
            );
        }
    };
    let request = BeginRequest {
        database,
        mode,
        read_only,
        lease_ms,
    };
    let result = g.database.begin(c.grpc(request)).await;
    unary(
        &c,
        "Begin",
        result,
        |r| json!({"transaction_id": r.transaction_id, "lease_ms": r.lease_ms}),
    )
}

/// Checks that transaction `tx` of this token belongs to `database`, as the path says.
fn tx_of(g: &Gateway, c: &Call, database: &str, tx: &str) -> Result<(), Error> {
    g.engine
        .transactions()
        .get(tx, database, c.owner())
        .map(|_| ())
}

async fn commit(State(g): Shared, Extension(c): Extension<Call>, Path(s): Path<Scope>) -> Response {
    end_transaction(&g, &c, s, true).await
}

async fn rollback(
    State(g): Shared,
    Extension(c): Extension<Call>,
    Path(s): Path<Scope>,
) -> Response {
    end_transaction(&g, &c, s, false).await
}

/// Commit (`commit`) or Rollback of the transaction of `scope`.
async fn end_transaction(g: &Gateway, c: &Call, scope: Scope, commit: bool) -> Response {
    let rpc = if commit { "Commit" } else { "Rollback" };
    if let Err(err) = tx_of(g, c, &scope.db, &scope.tx) {
        return answered(errors::error(err, &c.request_id), rpc);
    }
    let transaction_id = scope.tx;
    let result = if commit {
        let request = c.grpc(CommitRequest { transaction_id });
        g.database.commit(request).await.map(|r| r.map(|_| ()))
    } else {
        let request = c.grpc(RollbackRequest { transaction_id });
        g.database.rollback(request).await.map(|r| r.map(|_| ()))
    };
    unary(c, rpc, result, |_| json!({}))
}

async fn call(
    State(g): Shared,
    Extension(c): Extension<Call>,
    Path(scope): Path<CallScope>,
    method: Method,
    uri: Uri,
    h: HeaderMap,
    b: Body,
) -> Response {
    run_call(&g, &c, scope, method, &uri, &h, b).await
}

/// An exposed statement: arguments from the query string (text) and, with POST, a JSON body
/// object; GET only for a statement that reads.
async fn run_call(
    g: &Gateway,
    c: &Call,
    CallScope {
        db: database,
        tx: transaction_id,
        name,
    }: CallScope,
    method: Method,
    uri: &Uri,
    h: &HeaderMap,
    b: Body,
) -> Response {
    let visible = c
        .principal
        .as_ref()
        .is_none_or(|p| p.access_to(&database).is_some());
    if method == Method::GET
        && visible
        && let Ok(statement) = g.store.current().get(&database, &name)
        && statement.writes
    {
        let status = Error::FailedPrecondition(format!(
            "{name} writes, so it is called with POST (GET is for statements that only read)"
        ))
        .into_status(Some(&c.request_id));
        let mut refused =
            errors::respond_as(StatusCode::METHOD_NOT_ALLOWED, &status, &c.request_id);
        refused
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return answered(refused, "Call");
    }
    let mut args = decoded!(c, body::query_args(uri.query().unwrap_or("")));
    if method == Method::POST {
        let object = match object(g, c, h, b).await {
            Ok(object) => object,
            Err(refused) => return answered(refused, "Call"),
        };
        let from_body: HashMap<_, _> = decoded!(c, body::call_args(&object));
        for (arg, value) in from_body {
            if args.insert(arg.clone(), value).is_some() {
                return errors::error(
                    Error::invalid(
                        format!("args.{arg}"),
                        format!(
                            "{arg:?} is given in both the query string and the body; give it once"
                        ),
                    ),
                    &c.request_id,
                );
            }
        }
    }
    let request = CallRequest {
        database,
        name,
        args,
        transaction_id,
    };
    let result = g.statements.call(c.grpc(request)).await;
    rows(g, c, "Call", result).await
}

async fn list_all(State(g): Shared, Extension(c): Extension<Call>, uri: Uri) -> Response {
    let args = decoded!(c, body::query_args(uri.query().unwrap_or("")));
    let database = match args.get("database").and_then(|v| v.kind.as_ref()) {
        Some(sqlited_proto::v1::value::Kind::Text(d)) => d.clone(),
        _ => String::new(),
    };
    list(&g, &c, database).await
}

async fn list_database(
    State(g): Shared,
    Extension(c): Extension<Call>,
    Path(Scope { db, .. }): Path<Scope>,
) -> Response {
    list(&g, &c, db).await
}

async fn list(g: &Gateway, c: &Call, database: String) -> Response {
    let result = g
        .statements
        .list_statements(c.grpc(ListStatementsRequest { database }))
        .await;
    unary(
        c,
        "ListStatements",
        result,
        |r| json!({"statements": r.statements.iter().map(super::openapi::statement_json).collect::<Vec<_>>()}),
    )
}

async fn reload(State(g): Shared, Extension(c): Extension<Call>) -> Response {
    let result = g
        .statements
        .reload_statements(c.grpc(ReloadStatementsRequest {}))
        .await;
    unary(
        &c,
        "ReloadStatements",
        result,
        |r| json!({"statements": r.statements}),
    )
}

/// Liveness: the process answers HTTP. Never touches a database.
async fn healthz() -> Response {
    json_ok(&json!({"status": "SERVING"}))
}

/// Readiness: 503 with the reasons while the server drains or replication is not ready
/// (Litestream down, the store not answering or misconfigured, a database's replication
/// failing), else 200.
async fn readyz(State(g): Shared) -> Response {
    let mut reasons = Vec::new();
    if g.health.as_ref().is_some_and(|h| h.is_draining()) {
        reasons.push("the server is shutting down".to_string());
    }
    if let Some(replication) = &g.replication
        && let Err(why) = replication.readiness()
    {
        reasons.extend(why);
    }
    if reasons.is_empty() {
        return json_ok(&json!({"status": "SERVING"}));
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"status": "NOT_SERVING", "reasons": reasons}).to_string(),
    )
        .into_response()
}

/// The databases of the data directory the token holds a role on (every one without
/// auth), with that role.
async fn list_databases(State(g): Shared, Extension(c): Extension<Call>) -> Response {
    let engine = Arc::clone(&g.engine);
    let listed = tokio::task::spawn_blocking(move || engine.list_databases())
        .await
        .unwrap_or_else(|err| {
            Err(Error::Internal(format!(
                "listing the databases failed: {err}"
            )))
        });
    let files = match listed {
        Ok(files) => files,
        Err(err) => return answered(errors::error(err, &c.request_id), "ListDatabases"),
    };
    let databases: Vec<Json> = files
        .iter()
        .filter_map(|file| {
            let role = match &c.principal {
                None => crate::auth::Access::Admin,
                Some(principal) => principal.access_to(&file.name)?,
            };
            Some(json!({"name": file.name, "role": role.to_string()}))
        })
        .collect();
    answered(json_ok(&json!({"databases": databases})), "ListDatabases")
}

async fn openapi(State(g): Shared, Extension(c): Extension<Call>) -> Response {
    let principal = c.principal.as_deref();
    let catalog = g
        .store
        .checked(|database| principal.is_none_or(|p| p.access_to(database).is_some()))
        .await;
    let document =
        super::openapi::document(&catalog, c.principal.as_deref(), g.credentials.is_some());
    answered(json_ok(&document), "OpenApi")
}

/// A NOT_FOUND (404, reason NO_SUCH_ENDPOINT) or, with `http` 405, a wrong method
/// (UNIMPLEMENTED, reason METHOD_NOT_ALLOWED; axum adds the `Allow` header).
fn no_endpoint(c: &Call, http: StatusCode, message: String) -> Response {
    let (code, reason) = if http == StatusCode::METHOD_NOT_ALLOWED {
        (tonic::Code::Unimplemented, "METHOD_NOT_ALLOWED")
    } else {
        (tonic::Code::NotFound, "NO_SUCH_ENDPOINT")
    };
    let details = tonic_types::ErrorDetails::with_error_info(
        reason,
        crate::error::ERROR_DOMAIN,
        HashMap::from([("request_id".to_string(), c.request_id.clone())]),
    );
    use tonic_types::StatusExt as _;
    let status = Status::with_error_details(code, message, details);
    errors::respond_as(http, &status, &c.request_id)
}

async fn not_found(Extension(c): Extension<Call>, uri: Uri) -> Response {
    let message = format!(
        "no endpoint {}: the endpoints are under /v1/databases/{{db}}/ (query, execute, batch, \
         transactions, call/{{name}}, statements); /v1/openapi.json lists them",
        uri.path()
    );
    no_endpoint(&c, StatusCode::NOT_FOUND, message)
}

async fn wrong_method(Extension(c): Extension<Call>, method: Method, uri: Uri) -> Response {
    let message = format!(
        "{} does not answer {method}; /v1/openapi.json lists each endpoint's methods",
        uri.path()
    );
    no_endpoint(&c, StatusCode::METHOD_NOT_ALLOWED, message)
}
