//! Interactive transactions: visibility, commit, rollback, leases, read-only, bounds,
//! shutdown, and money moved by 16 threads.

use std::time::{Duration, Instant};

use sqlited_client::{ErrorKind, TransactionOptions, blocking, params};
use tonic::Code;

use crate::harness::{Server, scalar};

async fn count(db: &sqlited_client::Database, table: &str) -> i64 {
    scalar(db, &format!("SELECT count(*) FROM {table}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_and_rollback_with_visibility() {
    let server = Server::start();
    let db = server.database("tx").await;
    db.execute("CREATE TABLE t (x INTEGER)", ()).await.unwrap();

    let tx = db.begin().await.unwrap();
    tx.execute("INSERT INTO t VALUES (1), (2)", ())
        .await
        .unwrap();
    assert_eq!(
        count(&tx, "t").await,
        2,
        "a transaction sees its own writes"
    );
    assert_eq!(
        count(&db, "t").await,
        0,
        "others do not see uncommitted writes"
    );
    tx.commit().await.unwrap();
    assert_eq!(count(&db, "t").await, 2);

    let tx = db.begin().await.unwrap();
    tx.execute("DELETE FROM t", ()).await.unwrap();
    tx.execute_many("INSERT INTO t VALUES (?)", (10..15).map(|x| params![x]))
        .await
        .unwrap();
    assert_eq!(count(&tx, "t").await, 5);
    tx.rollback().await.unwrap();
    assert_eq!(count(&db, "t").await, 2);

    // Dropped without commit: rolled back.
    {
        let tx = db.begin().await.unwrap();
        tx.execute("INSERT INTO t VALUES (99)", ()).await.unwrap();
    }
    // The background rollback frees the writer, so this write gets through.
    db.execute("INSERT INTO t VALUES (3)", ()).await.unwrap();
    let sum: i64 = scalar(&db, "SELECT sum(x) FROM t").await;
    assert_eq!(sum, 6);

    // A statement error inside keeps the transaction (SQLite's rule); the rest commits.
    let tx = db.begin().await.unwrap();
    tx.execute("INSERT INTO t VALUES (4)", ()).await.unwrap();
    assert!(
        tx.execute("INSERT INTO nowhere VALUES (1)", ())
            .await
            .is_err()
    );
    tx.commit().await.unwrap();
    assert_eq!(count(&db, "t").await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_frees_the_writer_and_the_late_commit_fails() {
    let server = Server::start();
    let db = server.database("lease").await;
    db.execute("CREATE TABLE t (x INTEGER)", ()).await.unwrap();
    let tx = db
        .begin_with(TransactionOptions {
            lease: Some(Duration::from_millis(300)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(tx.lease(), Duration::from_millis(300));
    tx.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();

    // This write queues behind the abandoned transaction and gets through once it expires.
    let started = Instant::now();
    db.execute("INSERT INTO t VALUES (2)", ()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));

    let err = tx.commit().await.unwrap_err();
    assert_eq!(err.status_code(), Some(Code::Aborted), "{err}");
    assert!(err.message().contains("expired"), "{err}");
    let values: Vec<i64> = db
        .query_all("SELECT x FROM t", ())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(
        values,
        [2],
        "the expired transaction's insert was rolled back"
    );
    assert!(server.log().contains("idle past its lease"));

    let err = db
        .begin_with(TransactionOptions {
            lease: Some(Duration::from_secs(86_400)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(Code::InvalidArgument), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_transactions_read_one_snapshot_and_refuse_writes() {
    let server = Server::start();
    let db = server.database("ro").await;
    db.execute("CREATE TABLE t (x INTEGER)", ()).await.unwrap();
    db.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    let ro = db
        .begin_with(TransactionOptions {
            read_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(count(&ro, "t").await, 1);
    // A read-only transaction does not hold up writers.
    db.execute("INSERT INTO t VALUES (2)", ()).await.unwrap();
    assert_eq!(count(&ro, "t").await, 1, "the snapshot does not move");
    assert_eq!(count(&db, "t").await, 2);

    for write in ["INSERT INTO t VALUES (3)", "CREATE TABLE u (y)"] {
        let err = ro.execute(write, ()).await.unwrap_err();
        assert_eq!(err.status_code(), Some(Code::FailedPrecondition), "{err}");
        assert!(err.message().contains("read-only"), "{err}");
    }
    let err = ro
        .query_all("INSERT INTO t VALUES (4) RETURNING x", ())
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(Code::FailedPrecondition), "{err}");
    ro.commit().await.unwrap();
    assert_eq!(count(&db, "t").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_and_bounds_get_clear_errors() {
    let server = Server::start_with(&["--max-transactions-per-database", "2", "--readers", "4"]);
    let db = server.database("bounds").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let read_only = TransactionOptions {
        read_only: true,
        ..Default::default()
    };
    let a = db.begin_with(read_only).await.unwrap();
    let _b = db.begin_with(read_only).await.unwrap();
    let err = db.begin_with(read_only).await.unwrap_err();
    assert_eq!(err.status_code(), Some(Code::ResourceExhausted), "{err}");
    assert!(err.is_retryable());
    assert!(
        err.message().contains("--max-transactions-per-database"),
        "{err}"
    );
    // Another database has its own bound.
    server
        .database("other")
        .await
        .begin_with(read_only)
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
    let id = a.id().to_string();
    a.commit().await.unwrap();
    let c = db.begin_with(read_only).await.unwrap();

    let client = sqlited_client::proto::v1::database_client::DatabaseClient::connect(server.url());
    let mut raw = client.await.unwrap();
    let status = raw
        .commit(sqlited_client::proto::v1::CommitRequest {
            transaction_id: id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::FailedPrecondition,
        "commit twice: {status:?}"
    );
    assert!(status.message().contains("already committed"));
    let status = raw
        .commit(sqlited_client::proto::v1::CommitRequest {
            transaction_id: "no-such-id".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = raw
        .execute(sqlited_client::proto::v1::ExecuteRequest {
            database: "other".into(),
            statement: Some(sqlited_client::proto::v1::Statement {
                sql: "SELECT 1".into(),
                ..Default::default()
            }),
            transaction_id: c.id().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::InvalidArgument,
        "another database's id: {status:?}"
    );
    c.rollback().await.unwrap();
}

// Read-only transactions pin readers of their own, at most --readers of them. One more
// Begin once waited for a reader until its deadline, though only another transaction's end
// (as far off as its lease) frees one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_begin_past_the_pinned_readers_is_refused_at_once() {
    let server = Server::start_with(&["--readers", "2"]);
    let db = server.database("pinned").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let read_only = TransactionOptions {
        read_only: true,
        ..Default::default()
    };
    let first = db.begin_with(read_only).await.unwrap();
    let second = db.begin_with(read_only).await.unwrap();
    // A deadline far beyond the bound below: the refusal must not be its end.
    let patient = db.with_timeout(Some(Duration::from_secs(60)));
    for round in 0..3 {
        let started = Instant::now();
        let err = patient.begin_with(read_only).await.unwrap_err();
        let took = started.elapsed();
        assert_eq!(
            err.status_code(),
            Some(Code::ResourceExhausted),
            "round {round}: {err}"
        );
        assert!(err.is_retryable(), "a retry hint: {err}");
        assert!(err.message().contains("--readers"), "{err}");
        assert!(err.message().contains("2 readers"), "{err}");
        assert!(
            took < Duration::from_secs(20),
            "refused after {took:?}, not at once"
        );
    }
    // Single reads have readers of their own, and write transactions the writer.
    assert_eq!(count(&db, "t").await, 0);
    let write = db.begin().await.unwrap();
    write.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    write.commit().await.unwrap();
    // One ends: its reader serves the next Begin.
    first.commit().await.unwrap();
    let third = crate::harness::eventually(
        Duration::from_secs(10),
        "a read-only Begin once a reader is free",
        || patient.begin_with(read_only),
    )
    .await;
    assert_eq!(count(&third, "t").await, 1);
    third.commit().await.unwrap();
    second.rollback().await.unwrap();
}

#[test]
fn shutdown_rolls_back_open_transactions() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut server = Server::start_in(dir.path(), &[]);
        let conn = blocking::connect(&server.db_url("shut")).unwrap();
        conn.execute("CREATE TABLE t (x)", ()).unwrap();
        conn.execute("INSERT INTO t VALUES ('kept')", ()).unwrap();
        let tx = conn.transaction().unwrap();
        tx.execute("INSERT INTO t VALUES ('lost')", ()).unwrap();
        let started = Instant::now();
        assert!(server.terminate().success(), "{}", server.log());
        // Well under the 30 s lease: shutdown does not wait for the transaction.
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
        let err = tx.commit().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Operational, "{err}");
    }
    let server = Server::start_in(dir.path(), &[]);
    let conn = blocking::connect(&server.db_url("shut")).unwrap();
    let rows = conn.query("SELECT x FROM t", ()).unwrap();
    let values: Vec<String> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    assert_eq!(values, ["kept"]);
}

#[test]
fn sixteen_threads_move_money_and_the_total_never_changes() {
    const ACCOUNTS: i64 = 8;
    const THREADS: i64 = 16;
    const TRANSFERS: i64 = 15;
    let server = Server::start();
    let conn = blocking::connect(&server.db_url("bank")).unwrap();
    conn.execute(
        "CREATE TABLE acct (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)",
        (),
    )
    .unwrap();
    conn.executemany(
        "INSERT INTO acct VALUES (?, 1000)",
        (0..ACCOUNTS).map(|i| params![i]),
    )
    .unwrap();
    let total = ACCOUNTS * 1000;

    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let conn = conn.clone();
            scope.spawn(move || {
                for n in 0..TRANSFERS {
                    let from = (thread + n) % ACCOUNTS;
                    let to = (thread * 3 + n + 1) % ACCOUNTS;
                    let tx = conn.transaction().unwrap();
                    let balance: i64 = tx
                        .query_one("SELECT balance FROM acct WHERE id = ?", params![from])
                        .unwrap()
                        .get(0)
                        .unwrap();
                    let amount = (balance / 10).max(1);
                    tx.execute(
                        "UPDATE acct SET balance = balance - ? WHERE id = ?",
                        params![amount, from],
                    )
                    .unwrap();
                    tx.execute(
                        "UPDATE acct SET balance = balance + ? WHERE id = ?",
                        params![amount, to],
                    )
                    .unwrap();
                    if n % 5 == 4 {
                        drop(tx); // rolled back: moves nothing
                    } else {
                        tx.commit().unwrap();
                    }
                }
            });
        }
        // Meanwhile, every consistent snapshot sums to the same total.
        let conn = conn.clone();
        scope.spawn(move || {
            for _ in 0..20 {
                let ro = conn
                    .transaction_with(TransactionOptions {
                        read_only: true,
                        ..Default::default()
                    })
                    .unwrap();
                let sum: i64 = ro
                    .query_one("SELECT sum(balance) FROM acct", ())
                    .unwrap()
                    .get(0)
                    .unwrap();
                assert_eq!(sum, total);
                ro.commit().unwrap();
            }
        });
    });
    let sum: i64 = conn
        .query_one("SELECT sum(balance) FROM acct", ())
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(sum, total);
    let moved: i64 = conn
        .query_one("SELECT count(*) FROM acct WHERE balance != 1000", ())
        .unwrap()
        .get(0)
        .unwrap();
    assert!(moved > 0, "no transfer committed");
}

#[test]
fn dbapi_manual_mode_commits_and_rolls_back() {
    let server = Server::start();
    let conn = blocking::connect(&server.db_url("manual")).unwrap();
    let other = blocking::connect(&server.db_url("manual")).unwrap();
    conn.execute("CREATE TABLE t (x)", ()).unwrap();
    assert!(conn.autocommit());
    conn.set_autocommit(false).unwrap();
    let mut cur = conn.cursor();
    cur.execute("INSERT INTO t VALUES (1)", ()).unwrap();
    cur.execute("SELECT count(*) FROM t", ()).unwrap();
    assert_eq!(cur.fetchone().unwrap().unwrap().get::<i64>(0).unwrap(), 1);
    assert_eq!(
        other
            .query_one("SELECT count(*) FROM t", ())
            .unwrap()
            .get::<i64>(0)
            .unwrap(),
        0
    );
    conn.commit().unwrap();
    assert_eq!(
        other
            .query_one("SELECT count(*) FROM t", ())
            .unwrap()
            .get::<i64>(0)
            .unwrap(),
        1
    );
    cur.execute("INSERT INTO t VALUES (2)", ()).unwrap();
    conn.rollback().unwrap();
    conn.set_autocommit(true).unwrap();
    assert_eq!(
        conn.query_one("SELECT count(*) FROM t", ())
            .unwrap()
            .get::<i64>(0)
            .unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoints_nest_inside_a_transaction() {
    let server = Server::start();
    let db = server.database("savepoints").await;
    db.execute("CREATE TABLE t (x INTEGER)", ()).await.unwrap();

    let tx = db.begin().await.unwrap();
    tx.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    tx.execute("SAVEPOINT a", ()).await.unwrap();
    tx.execute("INSERT INTO t VALUES (2)", ()).await.unwrap();
    tx.execute("ROLLBACK TO a", ()).await.unwrap();
    // ROLLBACK TO keeps the savepoint; RELEASE ends it.
    tx.execute("INSERT INTO t VALUES (3)", ()).await.unwrap();
    tx.execute("RELEASE a", ()).await.unwrap();
    tx.execute("SAVEPOINT \"b c\"", ()).await.unwrap();
    tx.execute("SAVEPOINT inner_most", ()).await.unwrap();
    tx.execute("INSERT INTO t VALUES (4)", ()).await.unwrap();
    // Releasing the outer one releases the inner one too; the transaction stays open.
    tx.execute("RELEASE SAVEPOINT \"b c\"", ()).await.unwrap();
    let err = tx.execute("RELEASE inner_most", ()).await.unwrap_err();
    assert!(err.message().contains("no such savepoint"), "{err}");
    tx.execute("SAVEPOINT d", ()).await.unwrap();
    tx.execute("INSERT INTO t VALUES (5)", ()).await.unwrap();
    tx.execute("ROLLBACK TRANSACTION TO SAVEPOINT d", ())
        .await
        .unwrap();
    assert_eq!(count(&tx, "t").await, 3, "1, 3 and 4 are left");
    assert_eq!(count(&db, "t").await, 0, "nothing is visible before Commit");
    // A savepoint left open is committed with the transaction.
    tx.commit().await.unwrap();
    let sum: i64 = scalar(&db, "SELECT sum(x) FROM t").await;
    assert_eq!(sum, 8);

    // Rollback undoes everything, savepoints released or not.
    let tx = db.begin().await.unwrap();
    tx.execute("SAVEPOINT e", ()).await.unwrap();
    tx.execute("INSERT INTO t VALUES (6)", ()).await.unwrap();
    tx.execute("RELEASE e", ()).await.unwrap();
    tx.execute("SAVEPOINT f", ()).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(count(&db, "t").await, 3);

    // Read-only transactions nest too.
    let tx = db
        .begin_with(TransactionOptions {
            read_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    tx.execute("SAVEPOINT r", ()).await.unwrap();
    assert_eq!(count(&tx, "t").await, 3);
    tx.execute("RELEASE r", ()).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_control_inside_a_transaction_gets_clear_refusals() {
    let server = Server::start();
    let db = server.database("control").await;
    db.execute("CREATE TABLE t (x INTEGER)", ()).await.unwrap();
    let tx = db.begin().await.unwrap();
    tx.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
    // Ending the transaction is the Commit and Rollback calls' work.
    for control in ["BEGIN", "COMMIT", "END", "ROLLBACK", "BEGIN IMMEDIATE"] {
        let err = tx.execute(control, ()).await.unwrap_err();
        assert_eq!(err.status_code(), Some(Code::InvalidArgument), "{control}");
        assert!(
            err.message().contains("Commit or Rollback call"),
            "{control}: {err}"
        );
    }
    // Savepoints run alone: a batch or a query wraps its work in a savepoint of its own.
    tx.execute("SAVEPOINT s", ()).await.unwrap();
    for control in ["SAVEPOINT s2", "RELEASE s", "ROLLBACK TO s"] {
        let err = tx
            .execute_batch([(control, ()), ("INSERT INTO t VALUES (2)", ())])
            .await
            .unwrap_err();
        assert_eq!(err.status_code(), Some(Code::InvalidArgument), "{control}");
        assert!(err.message().contains("alone with Execute"), "{control}: {err}");
        let err = tx.query_all(control, ()).await.unwrap_err();
        assert_eq!(err.status_code(), Some(Code::InvalidArgument), "{control}");
        assert!(err.message().contains("alone with Execute"), "{control}: {err}");
    }
    tx.execute("RELEASE s", ()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(count(&db, "t").await, 1, "the refused batches wrote nothing");

    // A savepoint statement prepared inside a transaction is never reused outside one.
    for control in ["SAVEPOINT s", "RELEASE s"] {
        let err = db.execute(control, ()).await.unwrap_err();
        assert_eq!(err.status_code(), Some(Code::InvalidArgument), "{control}");
        assert!(err.message().contains("transaction control"), "{control}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_foreign_keys_last_one_transaction() {
    let server = Server::start();
    let db = server.database("defer").await;
    db.execute_batch([
        ("CREATE TABLE parent (id INTEGER PRIMARY KEY)", ()),
        (
            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent(id))",
            (),
        ),
    ])
    .await
    .unwrap();

    // A row that references one inserted later: checked at Commit, as a dump needs.
    let tx = db.begin().await.unwrap();
    tx.execute("PRAGMA defer_foreign_keys=ON", ()).await.unwrap();
    tx.execute("INSERT INTO child VALUES (1, 10)", ())
        .await
        .unwrap();
    tx.execute("INSERT INTO parent VALUES (10)", ()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(count(&db, "child").await, 1);

    // Still unresolved at Commit: the Commit fails and the transaction stays open.
    let tx = db.begin().await.unwrap();
    tx.execute("PRAGMA defer_foreign_keys=1", ()).await.unwrap();
    tx.execute("INSERT INTO child VALUES (2, 20)", ())
        .await
        .unwrap();
    // (A failed commit drops the handle, which rolls back.)
    let err = tx.commit().await.unwrap_err();
    assert!(err.message().contains("FOREIGN KEY"), "{err}");
    assert_eq!(count(&db, "child").await, 1, "the orphan was not committed");
    // And that transaction no longer holds the writer (it would until its 30 s lease).
    db.with_timeout(Some(Duration::from_secs(10)))
        .execute("INSERT INTO parent VALUES (30)", ())
        .await
        .expect("the failed commit's transaction was rolled back");
    db.execute("DELETE FROM parent WHERE id = 30", ())
        .await
        .unwrap();

    // The setting ended with its transaction: the next one checks at once again.
    let tx = db.begin().await.unwrap();
    let on: i64 = scalar(&tx, "PRAGMA defer_foreign_keys").await;
    assert_eq!(on, 0);
    let err = tx
        .execute("INSERT INTO child VALUES (3, 30)", ())
        .await
        .unwrap_err();
    assert!(err.message().contains("FOREIGN KEY"), "{err}");
    tx.rollback().await.unwrap();

    // Outside a transaction it would reach the other requests of a group commit.
    let err = db
        .execute("PRAGMA defer_foreign_keys=ON", ())
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(Code::PermissionDenied), "{err}");
    assert!(
        err.message().contains("only inside an interactive transaction"),
        "{err}"
    );
}

/// The server's threads now.
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| tasks.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_transactions_take_no_thread_of_their_own() {
    let server = Server::start_with(&["--readers", "4"]);
    let db = server.database("threads").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let read_only = || {
        db.begin_with(TransactionOptions {
            read_only: true,
            ..Default::default()
        })
    };
    // First open every reader and the writer once, so the workers exist.
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(read_only().await.unwrap());
    }
    open.push(db.begin().await.unwrap());
    for tx in open.drain(..) {
        tx.commit().await.unwrap();
    }
    let before = threads(server.pid());
    for _ in 0..4 {
        open.push(read_only().await.unwrap());
    }
    open.push(db.begin().await.unwrap());
    for tx in &open {
        assert_eq!(count(tx, "t").await, 0);
    }
    let during = threads(server.pid());
    for tx in open {
        tx.commit().await.unwrap();
    }
    // Worker processes used to forward each transaction's commands on a thread of its own.
    assert!(
        during <= before,
        "{before} threads before, {during} with 5 transactions open"
    );
}
