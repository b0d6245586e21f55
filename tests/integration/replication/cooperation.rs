//! The writer cooperating with its Litestream, in both worker kinds: checkpoints and VACUUM
//! that never stall writers, Litestream's tables out of every client's reach (the
//! authorizer, in the worker), the writer's WAL frames counted as the lag (sent over the
//! wire by a worker process), and the lives of one name created and dropped racing (each
//! with its workers) replicated whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlited_client::{Client, params};
use tonic::Code;

use super::store::{caught_up, insert, replica_url, replicated, restored_rows};
use crate::harness::workers_mode;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkpoint_and_vacuum_never_stall_writers_under_litestream() {
    let url = replica_url(&format!("no-stall-{}", workers_mode()));
    let dir = tempfile::tempdir().unwrap();
    let server = replicated(dir.path(), &url, &[]);
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("busy");
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)", ())
        .await
        .unwrap();
    db.execute_many(
        "INSERT INTO t (b) VALUES (randomblob(1000))",
        (0..2000).map(|_| ()),
    )
    .await
    .unwrap();
    db.execute("DELETE FROM t WHERE id % 2 = 0", ()).await.unwrap();
    caught_up(&client, "busy").await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for _ in 0..4 {
        let (db, stop) = (db.clone(), Arc::clone(&stop));
        writers.push(tokio::spawn(async move {
            let mut longest = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                let began = Instant::now();
                db.execute("INSERT INTO t (b) VALUES (randomblob(100))", ())
                    .await
                    .unwrap();
                longest = longest.max(began.elapsed());
            }
            longest
        }));
    }
    let admin = client.admin();
    let mut slowest_admin = Duration::ZERO;
    for _ in 0..3 {
        let began = Instant::now();
        admin.checkpoint("busy").await.unwrap();
        slowest_admin = slowest_admin.max(began.elapsed());
    }
    let began = Instant::now();
    admin.vacuum("busy").await.unwrap();
    let vacuum = began.elapsed();
    let began = Instant::now();
    admin.checkpoint("busy").await.unwrap();
    slowest_admin = slowest_admin.max(began.elapsed());
    stop.store(true, Ordering::Relaxed);
    let mut longest = Duration::ZERO;
    for writer in writers {
        longest = longest.max(writer.await.unwrap());
    }
    println!(
        "under Litestream: longest write {longest:?}, slowest checkpoint {slowest_admin:?}, vacuum {vacuum:?}"
    );
    // A TRUNCATE checkpoint waited the busy timeout (5 s) on Litestream's read transaction
    // and stalled every write meanwhile.
    assert!(longest < Duration::from_secs(2), "a write took {longest:?}");
    assert!(slowest_admin < Duration::from_secs(2), "a checkpoint took {slowest_admin:?}");
    assert!(vacuum < Duration::from_secs(4), "vacuum took {vacuum:?}");
    caught_up(&client, "busy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_client_reaches_litestreams_tables() {
    let url = replica_url(&format!("tables-{}", workers_mode()));
    let dir = tempfile::tempdir().unwrap();
    // --unsafe-sql lifts the sandbox, not this; without --credentials every request is admin.
    let server = replicated(dir.path(), &url, &["--unsafe-sql"]);
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("guarded");
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    caught_up(&client, "guarded").await;
    for sql in [
        "SELECT * FROM _litestream_seq",
        "SELECT count(*) FROM _litestream_lock",
        "INSERT INTO _litestream_seq VALUES (1, 1)",
        "UPDATE _litestream_seq SET seq = 0",
        "DELETE FROM _litestream_lock",
        "DROP TABLE _litestream_lock",
        "CREATE INDEX i ON _litestream_seq (seq)",
        "ALTER TABLE _litestream_seq ADD COLUMN y",
        "CREATE TABLE _LITESTREAM_other (x)",
    ] {
        let err = db.execute(sql, ()).await.unwrap_err();
        assert_eq!(err.status_code(), Some(Code::PermissionDenied), "{sql}: {err}");
        assert!(err.message().contains("Litestream"), "{sql}: {err}");
    }
    let err = db
        .query_all("SELECT * FROM _litestream_seq", ())
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(Code::PermissionDenied));
    // A trigger is checked when it fires: the write that would fire it is refused.
    db.execute(
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM _litestream_seq; END",
        (),
    )
    .await
    .unwrap();
    let err = db.execute("INSERT INTO t VALUES (1)", ()).await.unwrap_err();
    assert_eq!(err.status_code(), Some(Code::PermissionDenied), "{err}");
    db.execute("DROP TRIGGER tr", ()).await.unwrap();
    // The database's own tables are untouched by all this.
    db.execute("INSERT INTO t VALUES (1)", ()).await.unwrap();
}

/// The lag in WAL frames, and the sync waits, in ListDatabases and /metrics (a worker
/// process sends the writer's frames over its wire).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lag_is_reported_in_frames() {
    let url = replica_url(&format!("lag-frames-{}", workers_mode()));
    let dir = tempfile::tempdir().unwrap();
    // Async with an interval longer than the test: nothing the test writes to `slow` is
    // synced by sqlited; `safe` is synchronous.
    let server = replicated(
        dir.path(),
        &url,
        &[
            "--replication-interval-ms",
            "600000",
            "--replication-override",
            "safe=sync",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let client = Client::connect(&server.url()).await.unwrap();

    let safe = client.database("safe");
    safe.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)", ())
        .await
        .unwrap();
    for i in 0..10 {
        safe.execute("INSERT INTO t VALUES (?, randomblob(100))", params![i])
            .await
            .unwrap();
    }
    let status = caught_up(&client, "safe").await;
    assert_eq!(status.lag_frames, 0, "{status:?}");
    assert_eq!(status.sync_waits, 11, "{status:?}");
    assert!(
        status.sync_wait_mean_ms > 0.0 && status.sync_wait_max_ms >= status.sync_wait_mean_ms,
        "{status:?}"
    );

    let slow = client.database("slow");
    slow.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)", ())
        .await
        .unwrap();
    // The first write is synced at once; after it, nothing for the interval.
    caught_up(&client, "slow").await;
    for i in 0..10 {
        slow.execute("INSERT INTO t VALUES (?, randomblob(100))", params![i])
            .await
            .unwrap();
    }
    let listed = client.admin().list_databases().await.unwrap();
    let status = listed
        .into_iter()
        .find(|d| d.name == "slow")
        .and_then(|d| d.replication)
        .unwrap();
    // Each COMMIT appends at least one frame.
    assert!(status.lag_frames >= 10, "{status:?}");
    assert_eq!(status.lag_writes, 10, "{status:?}");
    assert_eq!(status.sync_waits, 0, "{status:?}");
    let frames = crate::metrics::sample(
        server.metrics_addr(),
        "sqlited_replication_lag_frames",
        &["database=\"slow\""],
    );
    assert_eq!(frames, Some(status.lag_frames as f64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_and_drop_racing_under_replication_answer_only_actionable_codes() {
    use crate::database_lifecycle::{ROUNDS, assert_sound, create_write_drop, race};
    let url = replica_url(&format!("racing-{}", workers_mode()));
    let dir = tempfile::tempdir().unwrap();
    let server = replicated(dir.path(), &url, &[]);
    let client = Client::connect(&server.url()).await.unwrap();
    // Each life of the file registers with Litestream (or is dropped before it could),
    // and each drop unregisters it.
    let failures = race(&client, ROUNDS, |client, i| create_write_drop(client, "race", i)).await;
    assert_sound(&server, &client, &failures, "race").await;
    // The last life (most lives ended before the replica was even listed): its
    // generation holds it whole, and nothing of the lives before it.
    let db = client.database("race");
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)", ())
        .await
        .unwrap();
    insert(&db, 0, 10).await;
    caught_up(&client, "race").await;
    assert_eq!(restored_rows(&url, "race", &[]), 10);
}
