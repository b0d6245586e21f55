//! The gRPC port: the tonic routes (Database, Admin, KeyValue, Statements, health checking,
//! server reflection v1 and v1alpha) behind the server-wide layers, and each connection's own
//! stack.

use std::future::Future;
use std::sync::Arc;

use sqlited_proto::v1::admin_server::AdminServer;
use sqlited_proto::v1::database_server::DatabaseServer;
use sqlited_proto::v1::key_value_server::KeyValueServer;
use sqlited_proto::v1::statements_server::StatementsServer;
use tokio_rustls::TlsAcceptor;

use crate::auth::CredentialsStore;
use crate::auth::layer::AuthLayer;
use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::listener::Socket;
use crate::service::admin::AdminService;
use crate::service::database::DatabaseService;
use crate::service::health::HealthGate;
use crate::service::kv::KeyValueService;
use crate::service::statements::StatementsService;
use crate::statements::StatementsStore;

/// Every gRPC service of the server, each with `--max-message-bytes` as its codec's bound.
pub fn routes(
    config: &Config,
    engine: &Arc<Engine>,
    statements: &Arc<StatementsStore>,
    database: DatabaseService,
    health: HealthGate,
) -> Result<tonic::service::Routes> {
    let max = config.max_message_bytes;
    let timeout = config.statement_timeout();
    let database = DatabaseServer::new(database)
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let admin = AdminServer::new(AdminService::new(Arc::clone(engine), timeout));
    let kv = KeyValueServer::new(KeyValueService::new(
        Arc::clone(engine),
        Arc::clone(statements),
        timeout,
    ))
    .max_decoding_message_size(max)
    .max_encoding_message_size(max);
    let exposed = StatementsServer::new(StatementsService::new(
        Arc::clone(engine),
        Arc::clone(statements),
        timeout,
    ))
    .max_decoding_message_size(max)
    .max_encoding_message_size(max);
    Ok(tonic::service::Routes::new(database)
        .add_service(admin)
        .add_service(kv)
        .add_service(exposed)
        .add_service(tonic_health::pb::health_server::HealthServer::new(health))
        .add_service(reflection().build_v1().map_err(cannot_reflect)?)
        .add_service(reflection().build_v1alpha().map_err(cannot_reflect)?)
        .prepare())
}

/// Server reflection over sqlited's own descriptors and health checking's, for both
/// versions of the reflection protocol (`grpcurl` and `buf curl` ask for either).
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(sqlited_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

fn cannot_reflect(err: tonic_reflection::server::Error) -> Error {
    Error::Internal(format!("cannot build reflection: {err}"))
}

/// Serves `routes` on `socket` (under `tls` when given; each connection with at most
/// `per_connection` requests in flight) until `stop` completes, then waits until every
/// connection has closed ([`crate::connections::serve`]).
pub async fn serve(
    socket: Socket,
    limits: crate::connections::Limits,
    per_connection: usize,
    tls: Option<TlsAcceptor>,
    routes: tonic::service::Routes,
    credentials: Option<Arc<CredentialsStore>>,
    stop: impl Future<Output = ()>,
) {
    // Server-wide: every RPC counted, authenticated, and a message past the codec's bound
    // answered as such.
    let services = tower::ServiceBuilder::new()
        .layer(crate::service::observe::ObserveLayer)
        .layer(AuthLayer::new(credentials))
        .layer(crate::service::oversize::layer())
        .service(routes);
    let per_connection = per_connection.max(1);
    // Each connection's own stack, as tonic's server builds it, inside the request id that
    // every answer carries (refusals of the layers below too): an error a layer returns
    // (load shedding's refusal) becomes a status; past the connection's limit a request is
    // refused at once (RESOURCE_EXHAUSTED) rather than queued unboundedly.
    let connection_services = move || {
        tower::ServiceBuilder::new()
            .layer(crate::service::request_id::RequestIdLayer)
            .layer(tonic::service::RecoverErrorLayer::new())
            .load_shed()
            .concurrency_limit(per_connection)
            .map_request(
                |request: http::Request<crate::connections::Bounded<hyper::body::Incoming>>| {
                    request.map(tonic::body::Body::new)
                },
            )
            .service(services.clone())
    };
    crate::connections::serve(
        socket,
        crate::connections::Protocol::Grpc(tls),
        limits,
        connection_services,
        stop,
    )
    .await;
}
