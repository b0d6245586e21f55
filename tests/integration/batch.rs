//! ExecuteBatch is all or nothing; executemany prepares once and runs in one transaction.

use sqlited_client::{ErrorKind, Params, params};

use crate::harness::{Server, scalar};

#[tokio::test]
async fn a_batch_commits_whole_or_not_at_all() {
    let server = Server::start();
    let db = server.database("batch").await;
    db.execute(
        "CREATE TABLE acct (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0))",
        (),
    )
    .await
    .unwrap();
    let results = db
        .execute_batch([
            (
                "INSERT INTO acct (id, balance) VALUES (1, 100)",
                Params::None,
            ),
            ("INSERT INTO acct (id, balance) VALUES (2, 0)", Params::None),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[1].last_insert_rowid, 2);

    // The third statement breaks the CHECK: the first two must not stay applied.
    let err = db
        .execute_batch([
            (
                "UPDATE acct SET balance = balance - ? WHERE id = 2",
                params![0],
            ),
            (
                "UPDATE acct SET balance = balance + 150 WHERE id = 2",
                Params::None,
            ),
            (
                "UPDATE acct SET balance = balance - 150 WHERE id = 1",
                Params::None,
            ),
        ])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    assert_eq!(err.field(), Some("statements[2]"), "{err}");
    assert!(err.message().starts_with("statements[2]"), "{err}");
    let balances: Vec<i64> = db
        .query_all("SELECT balance FROM acct ORDER BY id", ())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(balances, [100, 0]);

    let err = db
        .execute_batch([
            ("INSERT INTO acct VALUES (3, 1)", Params::None),
            ("SELEC", Params::None),
        ])
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("statements[1].sql"), "{err}");
    let count: i64 = scalar(&db, "SELECT count(*) FROM acct").await;
    assert_eq!(count, 2);
}

#[tokio::test]
async fn execute_many_inserts_every_row() {
    let server = Server::start();
    let db = server.database("many").await;
    db.execute("CREATE TABLE t (n INTEGER, sq INTEGER)", ())
        .await
        .unwrap();
    let results = db
        .execute_many(
            "INSERT INTO t VALUES (?, ?)",
            (0..5000i64).map(|n| params![n, n * n]),
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 5000);
    assert!(results.iter().all(|r| r.rows_affected == 1));
    let sum: i64 = scalar(&db, "SELECT sum(sq) FROM t").await;
    assert_eq!(sum, (0..5000i64).map(|n| n * n).sum::<i64>());
}

#[tokio::test]
async fn a_batch_over_the_statement_bound_is_refused() {
    let server = Server::start_with(&["--max-batch-statements", "10"]);
    let db = server.database("bound").await;
    db.execute("CREATE TABLE t (n)", ()).await.unwrap();
    let err = db
        .execute_many("INSERT INTO t VALUES (?)", (0..11).map(|n| params![n]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Programming, "{err}");
    assert!(err.message().contains("--max-batch-statements"), "{err}");
    let count: i64 = scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(count, 0);
}
