//! Each error class: the right gRPC status, a PEP 249 kind, the SQLite code, the field.

use sqlited_client::proto::v1::database_client::DatabaseClient;
use sqlited_client::proto::v1::{ExecuteRequest, Statement};
use sqlited_client::{Error, ErrorKind, params};
use tonic::Code;

use crate::harness::{Server, scalar};

fn check(err: &Error, kind: ErrorKind, code: Code, reason: &str) {
    assert_eq!(err.kind(), kind, "{err}");
    assert_eq!(err.status_code(), Some(code), "{err}");
    assert_eq!(err.reason(), Some(reason), "{err}");
}

#[tokio::test]
async fn sql_errors_map_to_statuses_and_kinds() {
    let server = Server::start();
    let db = server.database("errors").await;
    db.execute(
        "CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL)",
        (),
    )
    .await
    .unwrap();
    db.execute("CREATE TABLE s (n INTEGER) STRICT", ())
        .await
        .unwrap();
    db.execute("INSERT INTO u (email) VALUES ('a@x')", ())
        .await
        .unwrap();

    let err = db.execute("SELEC 1", ()).await.unwrap_err();
    check(
        &err,
        ErrorKind::Programming,
        Code::InvalidArgument,
        "SQLITE_ERROR",
    );
    assert_eq!(err.sqlite_code(), Some(1));
    assert!(err.message().contains("syntax error"), "{err}");

    let err = db.query_all("SELECT * FROM nowhere", ()).await.unwrap_err();
    check(
        &err,
        ErrorKind::Programming,
        Code::InvalidArgument,
        "SQLITE_ERROR",
    );
    assert!(err.message().contains("no such table"), "{err}");

    let err = db
        .execute("INSERT INTO u (email) VALUES ('a@x')", ())
        .await
        .unwrap_err();
    check(
        &err,
        ErrorKind::Integrity,
        Code::AlreadyExists,
        "SQLITE_CONSTRAINT_UNIQUE",
    );
    assert_eq!(err.sqlite_code(), Some(2067));
    assert!(!err.is_retryable());

    let err = db
        .execute("INSERT INTO u (id, email) VALUES (1, 'b@x')", ())
        .await
        .unwrap_err();
    check(
        &err,
        ErrorKind::Integrity,
        Code::AlreadyExists,
        "SQLITE_CONSTRAINT_PRIMARYKEY",
    );

    let err = db
        .execute("INSERT INTO u (email) VALUES (NULL)", ())
        .await
        .unwrap_err();
    check(
        &err,
        ErrorKind::Integrity,
        Code::FailedPrecondition,
        "SQLITE_CONSTRAINT_NOTNULL",
    );

    let err = db
        .execute("INSERT INTO s VALUES (?)", params!["not a number"])
        .await
        .unwrap_err();
    check(
        &err,
        ErrorKind::Data,
        Code::InvalidArgument,
        "SQLITE_CONSTRAINT_DATATYPE",
    );

    // The failed writes changed nothing.
    let count: i64 = scalar(&db, "SELECT count(*) FROM u").await;
    assert_eq!(count, 1);
}

#[tokio::test]
async fn request_mistakes_are_invalid_arguments() {
    let server = Server::start();
    let db = server.database("mistakes").await;

    let err = db.execute("SELECT 1; SELECT 2", ()).await.unwrap_err();
    check(
        &err,
        ErrorKind::Programming,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert!(err.message().contains("more than one statement"), "{err}");
    assert_eq!(err.field(), Some("statement.sql"));

    // One statement with a trailing semicolon and comment is fine.
    db.execute("SELECT 1; -- done", ()).await.unwrap();

    for blank in ["", "   ", "-- nothing", "/* */ ;"] {
        let err = db.execute(blank, ()).await.unwrap_err();
        check(
            &err,
            ErrorKind::Programming,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
    }

    for control in ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT x", "RELEASE x"] {
        let err = db.execute(control, ()).await.unwrap_err();
        check(
            &err,
            ErrorKind::Programming,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert!(
            err.message().contains("transaction control"),
            "{control}: {err}"
        );
        let err = db.query_all(control, ()).await.unwrap_err();
        assert_eq!(
            err.status_code(),
            Some(Code::InvalidArgument),
            "{control}: {err}"
        );
    }

    let client = sqlited_client::Client::connect(&server.url())
        .await
        .unwrap();
    for name in [
        "",
        "../etc/passwd",
        "a/b",
        "x.db",
        &"n".repeat(65),
        "spaces here",
    ] {
        let err = client
            .database(name)
            .execute("SELECT 1", ())
            .await
            .unwrap_err();
        check(
            &err,
            ErrorKind::Programming,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert_eq!(err.field(), Some("database"), "{name:?}");
    }
    assert!(!server.data_dir.join("x.db.db").exists());

    // A request without a statement, sent with the raw generated client.
    let mut raw = DatabaseClient::connect(server.url()).await.unwrap();
    let status = raw
        .execute(ExecuteRequest {
            database: "mistakes".into(),
            statement: None,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("no statement"), "{status:?}");
    let status = raw
        .execute(ExecuteRequest {
            database: "mistakes".into(),
            statement: Some(Statement {
                sql: "SELECT 1".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    assert!(status.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_create_refuses_unknown_databases() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut server = Server::start_in(dir.path(), &[]);
        let db = server.database("exists").await;
        db.execute("CREATE TABLE t (x)", ()).await.unwrap();
        assert!(server.terminate().success());
    }
    let server = Server::start_in(dir.path(), &["--no-create"]);
    // Not the harness's handle, which would create the database first.
    let err = sqlited_client::Client::connect(&server.url())
        .await
        .unwrap()
        .database("missing")
        .execute("CREATE TABLE t (x)", ())
        .await
        .unwrap_err();
    check(
        &err,
        ErrorKind::Operational,
        Code::NotFound,
        "DATABASE_NOT_FOUND",
    );
    assert!(!dir.path().join("missing.db").exists());
    server
        .database("exists")
        .await
        .execute("INSERT INTO t VALUES (1)", ())
        .await
        .unwrap();
}

#[tokio::test]
async fn unreachable_server_is_an_operational_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = sqlited_client::Client::connect(&format!("http://{addr}"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    let err = sqlited_client::Client::connect("not a url")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interface, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_forms_and_a_tls_mismatch_get_clear_answers() {
    let server = Server::start();
    server.ensure_database("app");
    // No scheme: plaintext http://.
    let plain = sqlited_client::Client::connect(&server.addr().to_string())
        .await
        .unwrap();
    let one: i64 = scalar(&plain.database("app"), "SELECT 1").await;
    assert_eq!(one, 1);
    let addr = server.addr();
    tokio::task::spawn_blocking(move || {
        let conn = sqlited_client::blocking::connect(&format!("{addr}/app")).unwrap();
        assert_eq!(conn.query("SELECT 2", ()).unwrap().len(), 1);
        // Two database names: refused, not silently the last.
        let Err(err) = sqlited_client::blocking::connect(&format!("http://{addr}/a/b")) else {
            panic!("a URL with two database names was accepted");
        };
        assert_eq!(err.kind(), ErrorKind::Interface);
    })
    .await
    .unwrap();
    let health = std::process::Command::new(crate::harness::sqlited_binary())
        .args(["healthcheck", "--addr", &server.addr().to_string()])
        .output()
        .unwrap();
    assert!(health.status.success(), "{health:?}");
    // https:// against this plaintext server: said so, not "corrupt message".
    let tls = async {
        let client = sqlited_client::Client::connect(&format!("https://{}", server.addr())).await?;
        client.database("app").query_all("SELECT 1", ()).await
    };
    let err = tls.await.unwrap_err();
    assert!(err.to_string().contains("not using TLS"), "{err}");
}
