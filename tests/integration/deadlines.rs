//! Deadlines and cancellation stop statements inside SQLite and free their workers.

use std::time::{Duration, Instant};

use sqlited_client::params;
use tonic::Code;

use crate::harness::Server;

const ENDLESS: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_queries_on_every_reader_stop_at_their_deadline() {
    let server = Server::start_with(&["--readers", "2"]);
    let db = server.database("endless").await;
    let short = db.with_timeout(Some(Duration::from_millis(300)));
    let mut queries = Vec::new();
    for _ in 0..16 {
        let short = short.clone();
        queries.push(tokio::spawn(
            async move { short.query_all(ENDLESS, ()).await },
        ));
    }
    for query in queries {
        let err = query.await.unwrap().unwrap_err();
        assert_eq!(err.status_code(), Some(Code::DeadlineExceeded), "{err}");
    }
    // The pool answers at once afterwards.
    let quick = db.with_timeout(Some(Duration::from_secs(2)));
    let started = Instant::now();
    for _ in 0..4 {
        quick.query_one("SELECT 1", ()).await.unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_statement_timeout_stops_runaway_statements() {
    let server = Server::start_with(&["--statement-timeout-ms", "200"]);
    let db = server.database("runaway").await;
    let err = db.query_all(ENDLESS, ()).await.unwrap_err();
    assert_eq!(err.status_code(), Some(Code::DeadlineExceeded), "{err}");
    assert!(err.message().contains("--statement-timeout-ms"), "{err}");
    db.query_one("SELECT 1", ()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_write_rolls_back_only_its_own_work() {
    let server = Server::start();
    let db = server.database("writes").await;
    db.execute("CREATE TABLE t (x INTEGER)", ()).await.unwrap();
    let endless_insert = "INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c";
    let short = db.with_timeout(Some(Duration::from_millis(300)));
    let runaway = tokio::spawn(async move { short.execute(endless_insert, ()).await });
    let mut others = Vec::new();
    for i in 0..20 {
        let db = db.clone();
        others.push(tokio::spawn(async move {
            db.execute("INSERT INTO t VALUES (?)", params![-i - 1])
                .await
        }));
    }
    let err = runaway.await.unwrap().unwrap_err();
    assert_eq!(err.status_code(), Some(Code::DeadlineExceeded), "{err}");
    for other in others {
        other.await.unwrap().unwrap();
    }
    let row = db
        .query_one("SELECT count(*), max(x) FROM t", ())
        .await
        .unwrap();
    assert_eq!(
        row.get::<i64>(0).unwrap(),
        20,
        "only the other writes remain"
    );
    assert_eq!(row.get::<i64>(1).unwrap(), -1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_stops_its_statement() {
    let server = Server::start_with(&["--readers", "1"]);
    let db = server.database("gone").await;
    // No deadline: only the client giving up can stop it.
    let gave_up = tokio::time::timeout(Duration::from_millis(300), db.query_all(ENDLESS, ())).await;
    assert!(gave_up.is_err());
    // With a single reader, this answers only if the abandoned statement was stopped.
    let quick = db.with_timeout(Some(Duration::from_secs(5)));
    quick.query_one("SELECT 1", ()).await.unwrap();
}
