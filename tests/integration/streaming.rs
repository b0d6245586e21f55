//! Large results stream in bounded messages; oversized rows get a clear error.

use sqlited_client::proto::v1::database_client::DatabaseClient;
use sqlited_client::proto::v1::{QueryRequest, Statement};
use sqlited_client::{ErrorKind, params};
use tonic::Code;

use crate::harness::{Server, scalar};

const ROWS: i64 = 200_000;

#[tokio::test]
async fn two_hundred_thousand_rows_stream_in_order() {
    let server = Server::start();
    let db = server.database("big").await;
    db.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, s TEXT)", ())
        .await
        .unwrap();
    let inserted = db
        .execute(
            "INSERT INTO big (id, s) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) \
             SELECT x, 'row-' || x FROM c",
            params![ROWS],
        )
        .await
        .unwrap();
    assert_eq!(inserted.rows_affected, ROWS as u64);

    let mut rows = db
        .query("SELECT id, s FROM big ORDER BY id", ())
        .await
        .unwrap();
    let mut expected = 1;
    while let Some(row) = rows.next().await.unwrap() {
        assert_eq!(row.get::<i64>(0).unwrap(), expected);
        expected += 1;
    }
    assert_eq!(expected - 1, ROWS);

    // Seen from the wire: many messages, each within the row bound, columns on the first only.
    let mut raw = DatabaseClient::connect(server.url()).await.unwrap();
    let mut stream = raw
        .query(QueryRequest {
            database: "big".into(),
            statement: Some(Statement {
                sql: "SELECT id, s FROM big".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let (mut messages, mut total) = (0, 0);
    while let Some(message) = stream.message().await.unwrap() {
        assert!(message.rows.len() <= 1000);
        assert_eq!(message.columns.is_empty(), messages > 0);
        messages += 1;
        total += message.rows.len();
    }
    assert_eq!(total, ROWS as usize);
    assert!(messages >= 200, "{messages} messages");
}

#[tokio::test]
async fn a_client_that_stops_reading_frees_its_reader() {
    let server = Server::start_with(&["--readers", "1"]);
    let db = server.database("abandon").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    db.execute(
        "INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000) SELECT x FROM c",
        (),
    )
    .await
    .unwrap();
    for _ in 0..5 {
        let mut rows = db.query("SELECT x FROM t", ()).await.unwrap();
        rows.next().await.unwrap().unwrap();
        drop(rows);
    }
    // With one reader, this only answers if every abandoned query let go of it.
    let count: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(count, 50_000);
}

#[tokio::test]
async fn rows_larger_than_a_message_are_refused_clearly() {
    let server = Server::start_with(&["--max-message-bytes", "1048576"]);
    let db = server.database("blobs").await;
    // Bigger than --bytes-per-message would allow in a batch, small enough for one message.
    let row = db.query_one("SELECT zeroblob(600000)", ()).await.unwrap();
    assert_eq!(row.get::<Vec<u8>>(0).unwrap().len(), 600_000);

    let err = db
        .query_all("SELECT zeroblob(2000000)", ())
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(Code::ResourceExhausted), "{err}");
    // SQLite refuses to build it (SQLITE_TOOBIG): a DataError, as sqlite3 raises.
    assert_eq!(err.kind(), ErrorKind::Data);
    assert!(err.message().contains("--max-message-bytes"), "{err}");
    // A row of values each within the bound, too large together, is the server's refusal.
    let err = db
        .query_all("SELECT zeroblob(600000), zeroblob(600000)", ())
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(Code::ResourceExhausted), "{err}");
    assert_eq!(err.kind(), ErrorKind::Operational);
    assert!(err.message().contains("--max-message-bytes"), "{err}");

    // A request over the bound is refused before it runs.
    let big = "x".repeat(2_000_000);
    let err = db.execute("SELECT ?", params![big]).await.unwrap_err();
    assert_eq!(err.status_code(), Some(Code::ResourceExhausted), "{err}");
    assert!(err.message().contains("--max-message-bytes"), "{err}");
    // And the server is still fine.
    db.execute("SELECT 1", ()).await.unwrap();
}

#[tokio::test]
async fn insert_returning_runs_on_the_writer_and_commits() {
    let server = Server::start();
    let db = server.database("returning").await;
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", ())
        .await
        .unwrap();
    for round in 0..3 {
        let rows = db
            .query_all(
                "INSERT INTO t (v) VALUES (?), (?) RETURNING id, v",
                params!["a", "b"],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 2, "round {round}");
        assert_eq!(rows[1].get::<String>("v").unwrap(), "b");
    }
    let count: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(count, 6);
}
