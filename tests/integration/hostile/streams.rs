//! Clients that stop reading their results hold nothing past their deadline.

use std::time::Duration;

use sqlited_client::proto::v1::database_client::DatabaseClient;
use tonic::Code;

use super::{code_of, query};
use crate::harness::{Server, scalar};

/// Opens a Query of an endless result on its own connection, reads one message and
/// returns the stream unread after it; or how it ended before its first message (a query
/// that waited for a reader past its deadline).
async fn stalled_query(
    server: &Server,
    sql: &str,
) -> Result<tonic::Streaming<sqlited_client::proto::v1::QueryResponse>, tonic::Status> {
    let mut raw = DatabaseClient::connect(server.url()).await.unwrap();
    let mut stream = raw.query(query("app", sql, vec![])).await?.into_inner();
    assert!(stream.message().await?.is_some());
    Ok(stream)
}

/// Reads what is left of `stream` and returns how it ended.
async fn drain(
    mut stream: tonic::Streaming<sqlited_client::proto::v1::QueryResponse>,
) -> (Code, String) {
    loop {
        match stream.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => return (Code::Ok, String::new()),
            Err(status) => return (status.code(), status.message().to_string()),
        }
    }
}

const ENDLESS: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                       SELECT x, randomblob(2000) FROM c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stop_reading_do_not_hold_the_readers() {
    let server = Server::start_with(&["--readers", "2", "--statement-timeout-ms", "1500"]);
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    db.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();

    // As many stalled streams as readers, and one more for good measure: that one waits for
    // a reader, and on a loaded machine its deadline may come before its first message.
    let mut stalled = Vec::new();
    for n in 0..3 {
        match stalled_query(&server, ENDLESS).await {
            Ok(stream) => stalled.push(stream),
            Err(status) if n == 2 => {
                assert_eq!(status.code(), Code::DeadlineExceeded, "{}", status.message())
            }
            Err(status) => panic!("stalled query {n} failed: {status:?}"),
        }
    }
    // Other reads get their answer: the stalled statements were stopped at their deadline.
    let patient = db.with_timeout(Some(Duration::from_secs(20)));
    for _ in 0..5 {
        let one: i64 = scalar(&patient, "SELECT x FROM t").await;
        assert_eq!(one, 1);
    }
    // A stalled client that reads again learns why its result stopped: it read too slowly
    // (or, for the one that waited for a reader, its deadline came while it ran).
    let mut slow = 0;
    for stream in stalled {
        let (code, message) = drain(stream).await;
        assert_eq!(code, Code::DeadlineExceeded, "{message}");
        slow += usize::from(message.contains("slowly"));
        assert!(
            message.contains("slowly") || message.contains("ran past its deadline"),
            "{message}"
        );
        // A SELECT wrote nothing, and its message says no write was undone.
        assert!(!message.contains("rolled back") && !message.contains("wrote"), "{message}");
    }
    // On a loaded machine a stalled statement may meet its deadline before its channel
    // filled; at least one of them was blocked on its client.
    assert!(slow >= 1, "no stream said the client read too slowly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writing_query_that_is_not_read_does_not_hold_the_writer() {
    let server = Server::start_with(&["--statement-timeout-ms", "60000"]);
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, pad BLOB)", ())
        .await
        .unwrap();
    // About 8 MB of RETURNING rows: far more than the stream's buffers hold.
    let insert = "INSERT INTO t (pad) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 \
                  FROM c WHERE x < 4000) SELECT randomblob(2000) FROM c RETURNING id, pad";
    let stalled = stalled_query(&server, insert).await.unwrap();

    // The writer is free for other writes and transactions at once (before the fix, they
    // waited for the stalled client for the whole statement timeout).
    let quick = db.with_timeout(Some(Duration::from_secs(10)));
    quick.execute("INSERT INTO t (pad) VALUES (x'00')", ()).await.unwrap();
    let tx = quick.begin().await.unwrap();
    tx.execute("INSERT INTO t (pad) VALUES (x'01')", ())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let rows: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(rows, 4002, "the stalled insert committed before its rows were read");
    // Its client gets every row when it reads at last.
    assert_eq!(drain(stalled).await.0, Code::Ok);

    // RETURNING rows are collected before the commit within --max-message-bytes: past it
    // the statement fails whole and writes nothing.
    let huge = "INSERT INTO t (pad) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 \
                FROM c WHERE x < 20000) SELECT randomblob(2000) FROM c RETURNING pad";
    let err = db.query_all(huge, ()).await.unwrap_err();
    assert_eq!(code_of(err.clone()), Code::ResourceExhausted, "{err}");
    assert!(err.to_string().contains("RETURNING"), "{err}");
    let rows: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(rows, 4002);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_query_inside_a_transaction_is_stopped_at_its_deadline() {
    let server = Server::start_with(&["--statement-timeout-ms", "1500"]);
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let tx = db.begin().await.unwrap();
    let mut rows = tx.query(ENDLESS, ()).await.unwrap();
    assert!(rows.next().await.unwrap().is_some());
    // Not reading on: the next statement of the transaction runs once the stalled one is
    // stopped at its deadline (before the fix it waited for the reader forever).
    let patient = tx.with_timeout(Some(Duration::from_secs(20)));
    patient
        .execute("INSERT INTO t VALUES (1)", ())
        .await
        .unwrap();
    let ended = loop {
        match rows.next().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("an endless query ended without an error"),
            Err(err) => break err,
        }
    };
    assert_eq!(code_of(ended.clone()), Code::DeadlineExceeded, "{ended}");
    assert!(ended.to_string().contains("slowly"), "{ended}");
    tx.commit().await.unwrap();
    let one: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(one, 1);
}

