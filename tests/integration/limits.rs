//! Every bound answers with a clear status naming its flag; nothing is silently truncated.

use sqlited_client::{ErrorKind, Value, params};
use tonic::Code;

use crate::harness::{Server, scalar};

#[tokio::test]
async fn a_64_mib_request_is_resource_exhausted() {
    let server = Server::start();
    let db = server.database("huge").await;
    let err = db
        .execute("SELECT length(?)", vec![Value::Blob(vec![7; 64 << 20])])
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(Code::ResourceExhausted), "{err}");
    assert!(err.message().contains("--max-message-bytes"), "{err}");
    db.execute("SELECT 1", ()).await.unwrap();
}

#[tokio::test]
async fn sql_length_parameter_count_and_rows_per_query_are_bounded() {
    let server = Server::start_with(&[
        "--max-sql-bytes",
        "1000",
        "--max-params",
        "5",
        "--max-rows-per-query",
        "100",
    ]);
    let db = server.database("bounded").await;
    let long = format!("SELECT 1 {}", " ".repeat(1000));
    let err = db.execute(&long, ()).await.unwrap_err();
    assert_eq!(err.status_code(), Some(Code::InvalidArgument), "{err}");
    assert!(err.message().contains("--max-sql-bytes"), "{err}");

    let err = db
        .query_all("SELECT ?, ?, ?, ?, ?, ?", params![1, 2, 3, 4, 5, 6])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Programming, "{err}");
    assert!(err.message().contains("--max-params"), "{err}");

    let rows = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT x FROM c";
    assert_eq!(db.query_all(rows, params![100]).await.unwrap().len(), 100);
    let err = db.query_all(rows, params![101]).await.unwrap_err();
    assert_eq!(err.status_code(), Some(Code::ResourceExhausted), "{err}");
    assert!(err.message().contains("--max-rows-per-query"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_write_queue_is_refused_with_a_retry_hint() {
    // A queue of one, and a writer held by a transaction: of five writes, one waits in the
    // queue (until its deadline) and the others are refused at once.
    let server = Server::start_with(&["--write-queue-depth", "1"]);
    let db = server.database("queue").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let tx = db.begin().await.unwrap();
    let short = db.with_timeout(Some(std::time::Duration::from_secs(1)));
    let writes: Vec<_> = (0..5)
        .map(|i| {
            let db = short.clone();
            tokio::spawn(async move { db.execute("INSERT INTO t VALUES (?)", params![i]).await })
        })
        .collect();
    let mut refused = 0;
    for write in writes {
        let err = write.await.unwrap().unwrap_err();
        match err.status_code() {
            Some(Code::ResourceExhausted) => {
                refused += 1;
                assert!(err.is_retryable(), "{err}");
                assert!(err.message().contains("--write-queue-depth"), "{err}");
            }
            Some(Code::DeadlineExceeded) => {}
            _ => panic!("unexpected {err}"),
        }
    }
    assert!(refused >= 3, "{refused} refused");
    tx.rollback().await.unwrap();
    let count: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(
        count, 0,
        "a write stopped by its deadline while queued never ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_on_one_connection_are_refused() {
    let server = Server::start_with(&["--max-concurrent-requests-per-connection", "2"]);
    // Unary calls, one HTTP/2 stream each (a session is one stream, bounded by
    // --session-max-in-flight instead).
    server.ensure_database("busy");
    let options = sqlited_client::ClientOptions::default().with_sessions(false);
    let db = sqlited_client::Client::connect_with(&server.url(), options)
        .await
        .unwrap()
        .database("busy")
        .with_timeout(Some(std::time::Duration::from_millis(500)));
    let endless =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.query_all(endless, ()).await.unwrap_err() })
        })
        .collect();
    let mut refused = 0;
    for call in calls {
        let err = call.await.unwrap();
        match err.status_code() {
            Some(Code::ResourceExhausted) => refused += 1,
            Some(Code::DeadlineExceeded) => {}
            _ => panic!("unexpected {err}"),
        }
    }
    assert!(
        refused >= 1,
        "none of 6 concurrent calls was refused past a limit of 2"
    );
    // And the connection serves again once the load is gone.
    server
        .database("busy")
        .await
        .execute("SELECT 1", ())
        .await
        .unwrap();
}
