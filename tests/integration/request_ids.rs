//! Every RPC of every service answers with `x-request-id`: the client's own when it sent a
//! usable one, else one of the server's; an error carries it too, in its status metadata.

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
