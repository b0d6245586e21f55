//! sqlite3's open modes (`Database.Open`, the URL's `mode=`): `rwc` creates a missing
//! database at connect, `rw` and `ro` refuse one and create nothing, `ro` refuses every
//! write as SQLite refuses a write to a read-only file, and a token that may not create is
//! told at connect.

use sqlited_client::proto::v1::database_client::DatabaseClient;
use sqlited_client::proto::v1::{QueryRequest, Statement};
use sqlited_client::{
    Client, ClientOptions, Database, ErrorKind, OpenMode, TransactionOptions, blocking,
};
use tonic::Code;

use crate::harness::{Server, scalar};
use crate::security::{ADMIN, READER, WRITER, credentials};

fn file(server: &Server, database: &str) -> std::path::PathBuf {
    server.data_dir.join(format!("{database}.db"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_mode_creates_a_missing_database_at_connect() {
    let server = Server::start();
    // The README's smoke test on a fresh server: a read first.
    let db = Database::connect(&format!("{}/fresh", server.url()))
        .await
        .unwrap();
    assert_eq!(scalar::<i64>(&db, "SELECT 1").await, 1);
    assert!(file(&server, "fresh").exists());
    // mode=rwc said out loud; the blocking handle; Client::open.
    let url = format!("{}/blocking?mode=rwc", server.url());
    tokio::task::spawn_blocking(move || {
        let conn = blocking::connect(&url).unwrap();
        assert_eq!(conn.query("SELECT 2", ()).unwrap().len(), 1);
    })
    .await
    .unwrap();
    assert!(file(&server, "blocking").exists());
    let client = Client::connect(&server.url()).await.unwrap();
    let opened = client.open("opened").await.unwrap();
    assert!(!opened.is_read_only());
    assert_eq!(scalar::<i64>(&opened, "SELECT 3").await, 3);
    // Opening an existing database again changes nothing in it.
    opened.execute("CREATE TABLE t (x)", ()).await.unwrap();
    opened.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    let again = client.open("opened").await.unwrap();
    assert_eq!(scalar::<i64>(&again, "SELECT count(*) FROM t").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rw_and_ro_refuse_a_missing_database_and_create_nothing() {
    let server = Server::start();
    for mode in ["rw", "ro"] {
        let url = format!("{}/missing?mode={mode}", server.url());
        let err = Database::connect(&url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
        assert_eq!(err.status_code(), Some(Code::NotFound), "{err}");
        assert_eq!(err.reason(), Some("DATABASE_NOT_FOUND"), "{err}");
        assert!(err.message().contains("mode=rw or mode=ro"), "{err}");
        let blocking_url = url.clone();
        let err = tokio::task::spawn_blocking(move || blocking::connect(&blocking_url))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(err.status_code(), Some(Code::NotFound), "{err}");
    }
    assert!(!file(&server, "missing").exists());
    // Once it exists, both open it.
    server.ensure_database("missing");
    let rw = Database::connect(&format!("{}/missing?mode=rw", server.url()))
        .await
        .unwrap();
    rw.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let client = Client::connect(&server.url()).await.unwrap();
    let ro = client.open_with("missing", OpenMode::ReadOnly).await.unwrap();
    assert!(ro.is_read_only());
    assert_eq!(scalar::<i64>(&ro, "SELECT count(*) FROM t").await, 0);
}

/// Every way a read-only handle could write, refused as SQLite refuses a write to a file
/// opened read-only; nothing changes, and a read-write handle still writes.
async fn read_only_refuses_every_write(sessions: bool) {
    let server = Server::start();
    let options = ClientOptions::default().with_sessions(sessions);
    let url = format!("{}/app", server.url());
    let rw = Database::connect_with(&url, options.clone()).await.unwrap();
    rw.execute("CREATE TABLE t (x INTEGER)", ()).await.unwrap();
    rw.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    let ro = Database::connect_with(&format!("{url}?mode=ro"), options)
        .await
        .unwrap();
    assert_eq!(scalar::<i64>(&ro, "SELECT count(*) FROM t").await, 1);
    let refused = |what: &str, err: sqlited_client::Error| {
        assert_eq!(err.kind(), ErrorKind::Operational, "{what}: {err}");
        assert_eq!(err.reason(), Some("SQLITE_READONLY"), "{what}: {err}");
        assert_eq!(err.sqlite_code(), Some(8), "{what}: {err}");
        assert!(
            err.message().contains("attempt to write a readonly database"),
            "{what}: {err}"
        );
    };
    // Each SQL text twice: first while the server does not know it writes, then once it
    // has learned that it does.
    for sql in [
        "INSERT INTO t VALUES (2)",
        "UPDATE t SET x = 5",
        "DELETE FROM t",
        "CREATE TABLE u (y)",
        "PRAGMA user_version = 7",
    ] {
        for _ in 0..2 {
            refused(sql, ro.execute(sql, ()).await.unwrap_err());
            refused(sql, ro.query_all(sql, ()).await.unwrap_err());
        }
    }
    let returning = "INSERT INTO t VALUES (3) RETURNING x";
    refused(returning, ro.query_all(returning, ()).await.unwrap_err());
    refused(
        "a batch",
        ro.execute_batch([("INSERT INTO t VALUES (4)", ())])
            .await
            .unwrap_err(),
    );
    refused(
        "a map write",
        ro.map::<String, u64>("hits")
            .insert("a".into(), 1)
            .await
            .unwrap_err(),
    );
    // A transaction of a read-only handle is read-only: it reads, and refuses writes.
    let tx = ro.begin_with(TransactionOptions::default()).await.unwrap();
    assert_eq!(scalar::<i64>(&tx, "SELECT count(*) FROM t").await, 1);
    let err = tx.execute("INSERT INTO t VALUES (5)", ()).await.unwrap_err();
    assert_eq!(err.reason(), Some("SQLITE_READONLY"), "{err}");
    tx.rollback().await.unwrap();
    // Reads of every kind work.
    assert_eq!(ro.execute("SELECT x FROM t", ()).await.unwrap().rows_affected, 0);
    assert!(!ro.map::<String, u64>("hits").contains_key(&"a".into()).await.unwrap());
    // Nothing changed, and the read-write handle writes the very SQL the server learned
    // writes.
    assert_eq!(scalar::<i64>(&rw, "SELECT count(*) FROM t").await, 1);
    assert_eq!(scalar::<i64>(&rw, "PRAGMA user_version").await, 0);
    rw.execute("INSERT INTO t VALUES (2)", ()).await.unwrap();
    assert_eq!(scalar::<i64>(&rw, "SELECT count(*) FROM t").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses_every_write_on_a_session() {
    read_only_refuses_every_write(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses_every_write_in_unary_calls() {
    read_only_refuses_every_write(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_handle_in_mode_ro_refuses_writes() {
    let server = Server::start();
    let url = server.db_url("app");
    tokio::task::spawn_blocking(move || {
        blocking::connect(&url)
            .unwrap()
            .execute("CREATE TABLE t (x)", ())
            .unwrap();
        let conn = blocking::connect(&format!("{url}?mode=ro")).unwrap();
        let err = conn.execute("INSERT INTO t VALUES (1)", ()).unwrap_err();
        assert_eq!(err.reason(), Some("SQLITE_READONLY"), "{err}");
        // DB-API manual mode begins read-only transactions.
        conn.set_autocommit(false).unwrap();
        assert_eq!(conn.query("SELECT count(*) FROM t", ()).unwrap().len(), 1);
        let err = conn.execute("INSERT INTO t VALUES (1)", ()).unwrap_err();
        assert_eq!(err.reason(), Some("SQLITE_READONLY"), "{err}");
        conn.rollback().unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_inside_a_transaction_is_refused_by_the_server() {
    let server = Server::start();
    let db = server.database("app").await;
    let tx = db.begin().await.unwrap();
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let request = QueryRequest {
        database: "app".into(),
        statement: Some(Statement {
            sql: "SELECT 1".into(),
            ..Default::default()
        }),
        transaction_id: tx.transaction_id().unwrap().into(),
        read_only: true,
    };
    let status = DatabaseClient::new(channel)
        .query(request)
        .await
        .map(drop)
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("begin the transaction read_only"), "{status:?}");
    tx.rollback().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_may_not_create_is_told_at_connect() {
    let dir = tempfile::tempdir().unwrap();
    let file_path = credentials(dir.path(), "");
    let server = Server::start_with(&["--credentials", file_path.to_str().unwrap()]);
    let url = |database: &str| format!("{}/{database}", server.url());
    let open = |token: &'static str, url: String| async move {
        Database::connect_with(&url, ClientOptions::default().with_token(token)).await
    };
    // A write token (its role on `app`: write) and a read token cannot create `app`.
    for token in [WRITER, READER] {
        let err = open(token, url("app")).await.unwrap_err();
        assert_eq!(err.status_code(), Some(Code::PermissionDenied), "{err}");
        assert_eq!(err.kind(), ErrorKind::Programming, "{err}");
        for fix in ["ask an admin to create it", "connect with an admin token"] {
            assert!(err.message().contains(fix), "{err}");
        }
    }
    // A token without a role on the database is refused, whether it exists or not.
    let err = open(READER, url("elsewhere")).await.unwrap_err();
    assert_eq!(err.status_code(), Some(Code::PermissionDenied), "{err}");
    assert!(err.message().contains("no role"), "{err}");
    assert!(!file(&server, "app").exists());
    // The admin token creates it; then the write token connects as before, in any mode.
    let admin = open(ADMIN, url("app")).await.unwrap();
    admin.execute("CREATE TABLE t (x)", ()).await.unwrap();
    for mode in ["", "?mode=rwc", "?mode=rw"] {
        let writer = open(WRITER, format!("{}{mode}", url("app"))).await.unwrap();
        writer.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    }
    let reader = open(READER, format!("{}?mode=ro", url("app"))).await.unwrap();
    assert_eq!(scalar::<i64>(&reader, "SELECT count(*) FROM t").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_create_server_refuses_to_create_at_connect() {
    let server = Server::start_with(&["--no-create"]);
    let err = Database::connect(&format!("{}/missing", server.url()))
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(Code::NotFound), "{err}");
    assert!(err.message().contains("--no-create"), "{err}");
    assert!(!file(&server, "missing").exists());
    server.ensure_database("made");
    let db = Database::connect(&format!("{}/made", server.url()))
        .await
        .unwrap();
    assert_eq!(scalar::<i64>(&db, "SELECT 1").await, 1);
}

#[tokio::test]
async fn client_connect_with_a_database_url_names_database_connect() {
    let server = Server::start();
    let err = Client::connect(&format!("{}/app", server.url()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interface, "{err}");
    assert!(err.message().contains("Database::connect"), "{err}");
}
