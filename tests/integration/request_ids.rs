//! Every RPC of every service answers with `x-request-id`: the client's own when it sent a
//! usable one, else one of the server's; an error carries it too, in its status metadata, and
//! so does every refusal made before a handler runs (authentication, load shedding, the
//! codec, an unknown method).

use sqlited_client::proto::v1::admin_client::AdminClient;
use sqlited_client::proto::v1::database_client::DatabaseClient;
use sqlited_client::proto::v1::key_value_client::KeyValueClient;
use sqlited_client::proto::v1::statements_client::StatementsClient;
use sqlited_client::proto::v1::*;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::harness::Server;

/// A request with the id `id` (none when empty).
fn with_id<T>(message: T, id: &str) -> Request<T> {
    let mut request = Request::new(message);
    if !id.is_empty() {
        request
            .metadata_mut()
            .insert("x-request-id", id.parse().unwrap());
    }
    request
}

fn id_in(metadata: &MetadataMap) -> String {
    metadata
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Checks that the answer of `rpc`, sent with `sent`, carries that id (or, if none was sent,
/// an id of the server's); returns whether it succeeded.
fn check<T>(rpc: &str, sent: &str, answer: Result<Response<T>, Status>) -> bool {
    let (id, ok) = match &answer {
        Ok(response) => (id_in(response.metadata()), true),
        Err(status) => (id_in(status.metadata()), false),
    };
    if sent.is_empty() {
        assert!(!id.is_empty(), "{rpc} answered without x-request-id");
    } else {
        assert_eq!(id, sent, "{rpc}: the answer's x-request-id");
    }
    ok
}

fn map(name: &str) -> Option<MapRef> {
    Some(MapRef {
        database: "ids".into(),
        map: name.into(),
    })
}

fn statement(sql: &str) -> Option<Statement> {
    Some(Statement {
        sql: sql.into(),
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_answers_with_its_request_id() {
    let server = Server::start();
    server.ensure_database("ids");
    let url = server.url();
    let mut db = DatabaseClient::connect(url.clone()).await.unwrap();
    let mut kv = KeyValueClient::connect(url.clone()).await.unwrap();
    let mut statements = StatementsClient::connect(url.clone()).await.unwrap();
    let mut admin = AdminClient::connect(url.clone()).await.unwrap();
    let channel = tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);

    // Each round: the client's id echoed, then one of the server's when the client sends none.
    for sent in ["client-id.1", ""] {
        let execute = |sql: &str| {
            with_id(
                ExecuteRequest {
                    database: "ids".into(),
                    statement: statement(sql),
                    ..Default::default()
                },
                sent,
            )
        };
        assert!(check("Execute", sent, db.execute(execute("CREATE TABLE IF NOT EXISTS t(x)")).await));
        assert!(!check("Execute (failing)", sent, db.execute(execute("INSERT INTO nowhere VALUES (1)")).await));
        let query = with_id(
            QueryRequest {
                database: "ids".into(),
                statement: statement("SELECT 1"),
                ..Default::default()
            },
            sent,
        );
        let answer = db.query(query).await;
        assert!(check("Query", sent, answer.map(|r| r.map(drop))));
        let batch = ExecuteBatchRequest {
            database: "ids".into(),
            statements: vec![statement("INSERT INTO t VALUES (1)").unwrap()],
            ..Default::default()
        };
        assert!(check("ExecuteBatch", sent, db.execute_batch(with_id(batch, sent)).await));
        let begin = || {
            with_id(
                BeginRequest {
                    database: "ids".into(),
                    ..Default::default()
                },
                sent,
            )
        };
        let begun = db.begin(begin()).await;
        let id = begun.as_ref().unwrap().get_ref().transaction_id.clone();
        assert!(check("Begin", sent, begun));
        let commit = CommitRequest {
            transaction_id: id.clone(),
        };
        assert!(check("Commit", sent, db.commit(with_id(commit.clone(), sent)).await));
        assert!(!check("Commit (again)", sent, db.commit(with_id(commit, sent)).await));
        let begun = db.begin(begin()).await.unwrap();
        let rollback = RollbackRequest {
            transaction_id: begun.get_ref().transaction_id.clone(),
        };
        assert!(check("Rollback", sent, db.rollback(with_id(rollback, sent)).await));
        // A session's response headers carry its id; the stream's requests end with it.
        let (frames, requests) = tokio::sync::mpsc::channel::<SessionRequest>(1);
        let opened = db
            .session(with_id(
                tokio_stream::wrappers::ReceiverStream::new(requests),
                sent,
            ))
            .await;
        assert!(check("Session", sent, opened.map(|r| r.map(drop))));
        drop(frames);

        let set = SetRequest {
            map: map("m"),
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            ..Default::default()
        };
        assert!(check("Set", sent, kv.set(with_id(set, sent)).await));
        let get = GetRequest {
            map: map("m"),
            key: b"k".to_vec(),
        };
        assert!(check("Get", sent, kv.get(with_id(get, sent)).await));
        let contains = ContainsRequest {
            map: map("m"),
            key: b"k".to_vec(),
        };
        assert!(check("Contains", sent, kv.contains(with_id(contains, sent)).await));
        assert!(check("Len", sent, kv.len(with_id(LenRequest { map: map("m") }, sent)).await));
        let scan = ScanRequest {
            map: map("m"),
            ..Default::default()
        };
        assert!(check("Scan", sent, kv.scan(with_id(scan, sent)).await.map(|r| r.map(drop))));
        let set_many = SetManyRequest {
            map: map("m"),
            entries: vec![Entry {
                key: b"k2".to_vec(),
                value: b"v".to_vec(),
                version: 0,
            }],
            ..Default::default()
        };
        assert!(check("SetMany", sent, kv.set_many(with_id(set_many, sent)).await));
        let delete = DeleteRequest {
            map: map("m"),
            key: b"k".to_vec(),
        };
        assert!(check("Delete", sent, kv.delete(with_id(delete, sent)).await));
        let delete_many = DeleteManyRequest {
            map: map("m"),
            keys: vec![b"k2".to_vec()],
        };
        assert!(check("DeleteMany", sent, kv.delete_many(with_id(delete_many, sent)).await));
        assert!(check("Clear", sent, kv.clear(with_id(ClearRequest { map: map("m") }, sent)).await));
        let bad = GetRequest {
            map: map("-bad"),
            key: Vec::new(),
        };
        assert!(!check("Get (bad map)", sent, kv.get(with_id(bad, sent)).await));

        let call = CallRequest {
            database: "ids".into(),
            name: "nothing".into(),
            ..Default::default()
        };
        assert!(!check("Call (unknown)", sent, statements.call(with_id(call, sent)).await.map(|r| r.map(drop))));
        let list = ListStatementsRequest::default();
        assert!(check("ListStatements", sent, statements.list_statements(with_id(list, sent)).await));
        let reload = ReloadStatementsRequest {};
        // No statements file: refused, with the id all the same.
        check("ReloadStatements", sent, statements.reload_statements(with_id(reload, sent)).await);

        let list = ListDatabasesRequest {};
        assert!(check("ListDatabases", sent, admin.list_databases(with_id(list, sent)).await));
        let checkpoint = CheckpointRequest {
            database: "ids".into(),
        };
        assert!(check("Checkpoint", sent, admin.checkpoint(with_id(checkpoint, sent)).await));
        let optimize = OptimizeRequest {
            database: "ids".into(),
        };
        assert!(check("Optimize", sent, admin.optimize(with_id(optimize, sent)).await));
        let vacuum = VacuumRequest {
            database: "ids".into(),
        };
        assert!(check("Vacuum", sent, admin.vacuum(with_id(vacuum, sent)).await));
        let backup = BackupRequest {
            database: "ids".into(),
        };
        assert!(check("Backup", sent, admin.backup(with_id(backup, sent)).await.map(|r| r.map(drop))));
        let create = CreateDatabaseRequest {
            database: "made".into(),
            if_not_exists: true,
        };
        assert!(check("CreateDatabase", sent, admin.create_database(with_id(create, sent)).await));
        let drop_it = DropDatabaseRequest {
            database: "made".into(),
            if_exists: true,
        };
        assert!(check("DropDatabase", sent, admin.drop_database(with_id(drop_it, sent)).await));
        let missing = CheckpointRequest {
            database: "missing".into(),
        };
        assert!(!check("Checkpoint (missing)", sent, admin.checkpoint(with_id(missing, sent)).await));

        let probe = || with_id(HealthCheckRequest { service: String::new() }, sent);
        assert!(check("Check", sent, health.check(probe()).await));
        assert!(check("Watch", sent, health.watch(probe()).await.map(|r| r.map(drop))));
    }
}

/// The refusals made before any handler runs carry the request id as the handlers' answers
/// do: authentication's (no token, an unknown one), tonic's for an unknown method or an
/// undecodable message, the codec's bound (`--max-message-bytes`) and load shedding's
/// (`--max-concurrent-requests-per-connection`). A client's id that is not usable is
/// replaced by one of the server's, the same in the metadata and in the error's details.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_answers_with_its_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials.toml");
    std::fs::write(
        &file,
        format!(
            "[[token]]\nname = \"writer\"\nsha256 = \"{}\"\nroles = {{ \"*\" = \"write\" }}\n",
            crate::harness::token_hash("sqlited_writer-token")
        ),
    )
    .unwrap();
    let server = Server::start_with(&[
        "--credentials",
        file.to_str().unwrap(),
        "--max-message-bytes",
        "4096",
        "--max-concurrent-requests-per-connection",
        "1",
    ]);
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut db = DatabaseClient::new(channel.clone());
    let authorized = |mut request: Request<ExecuteRequest>| {
        request.metadata_mut().insert(
            "authorization",
            "Bearer sqlited_writer-token".parse().unwrap(),
        );
        request
    };
    let execute = |sql: String, sent: &str| {
        with_id(
            ExecuteRequest {
                database: "ids".into(),
                statement: statement(&sql),
                ..Default::default()
            },
            sent,
        )
    };
    let refused = |rpc: &str, sent: &str, answer: Result<Response<ExecuteResponse>, Status>| {
        let status = answer.expect_err(rpc);
        assert!(!check(rpc, sent, Err::<Response<()>, _>(status.clone())));
        status
    };
    for sent in ["refused-1", ""] {
        // Authentication: no token, then an unknown one.
        let status = refused("no token", sent, db.execute(execute("SELECT 1".into(), sent)).await);
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
        assert_eq!(request_id_in_details(&status), id_in(status.metadata()));
        let mut unknown = execute("SELECT 1".into(), sent);
        unknown
            .metadata_mut()
            .insert("authorization", "Bearer nope".parse().unwrap());
        let status = refused("unknown token", sent, db.execute(unknown).await);
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");

        // The codec's bound.
        let big = execute(format!("SELECT '{}'", "x".repeat(8192)), sent);
        let status = refused("oversized", sent, db.execute(authorized(big)).await);
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");

        // tonic's own: an unknown method, a message that does not decode.
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.unwrap();
        let codec = tonic_prost::ProstCodec::<Raw, Raw>::default();
        let path = http::uri::PathAndQuery::from_static("/sqlited.v1.Database/NoSuchMethod");
        let answer = grpc.unary(raw(sent, vec![1]), path, codec).await;
        let status = answer.expect_err("an unknown method");
        assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
        check("unknown method", sent, Err::<Response<()>, _>(status));
        grpc.ready().await.unwrap();
        let codec = tonic_prost::ProstCodec::<Raw, Raw>::default();
        let path = http::uri::PathAndQuery::from_static("/sqlited.v1.Database/Execute");
        // Field 2 (the statement, a message) holding bytes that are no message.
        let answer = grpc.unary(raw(sent, vec![0xff, 0xff]), path, codec).await;
        let status = answer.expect_err("an undecodable message");
        check("undecodable", sent, Err::<Response<()>, _>(status));
    }

    // Load shedding: one request in flight on the connection, the next refused at once.
    let mut slow = authorized(execute(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
            .into(),
        "",
    ));
    slow.set_timeout(std::time::Duration::from_secs(30));
    let mut busy = DatabaseClient::new(channel.clone());
    let in_flight = tokio::spawn(async move { busy.execute(slow).await });
    crate::harness::eventually(std::time::Duration::from_secs(20), "a second request on a busy connection is shed", || {
        let mut db = db.clone();
        async move {
            let answer = db.execute(authorized(execute("SELECT 1".into(), "shed-1"))).await;
            match answer {
                Err(status) if status.code() != tonic::Code::Unauthenticated => {
                    check("shed", "shed-1", Err::<Response<()>, _>(status));
                    true
                }
                _ => false,
            }
        }
    })
    .await;
    in_flight.abort();

    // An id that is not usable is replaced, in the metadata and the details alike.
    let status = refused(
        "unusable id",
        "",
        db.execute(execute("SELECT 1".into(), "not usable!")).await,
    );
    let id = id_in(status.metadata());
    assert_ne!(id, "not usable!");
    assert_eq!(request_id_in_details(&status), id);
}

/// One field of bytes: as field 2, what no message of the API decodes.
#[derive(Clone, PartialEq, prost::Message)]
struct Raw {
    #[prost(bytes = "vec", tag = "2")]
    bytes: Vec<u8>,
}

/// An authenticated request of raw bytes.
fn raw(sent: &str, bytes: Vec<u8>) -> Request<Raw> {
    let mut request = with_id(Raw { bytes }, sent);
    request.metadata_mut().insert(
        "authorization",
        "Bearer sqlited_writer-token".parse().unwrap(),
    );
    request
}

/// The `request_id` of the status's ErrorInfo.
fn request_id_in_details(status: &Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .and_then(|info| info.metadata.get("request_id").cloned())
        .unwrap_or_default()
}
