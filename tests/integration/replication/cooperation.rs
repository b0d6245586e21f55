//! sqlited cooperating with its Litestream: checkpoints that never stall writers,
//! Litestream's tables out of every client's reach, a dead Litestream restarted, and a
//! replica that cannot be reached answered UNAVAILABLE and reported NOT_SERVING.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlited_client::{Client, params};
use tonic::Code;

use super::store::{caught_up, processes_mentioning, replica_url, replicated};
use crate::harness::workers_mode;
use crate::metrics::sample;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_litestream_is_restarted_and_counted() {
    if workers_mode() != "threads" {
        return;
    }
    let url = replica_url("restarted");
    let dir = tempfile::tempdir().unwrap();
    let server = replicated(
        dir.path(),
        &url,
        &["--replication", "sync", "--metrics-listen", "127.0.0.1:0"],
    );
    let metrics = server.metrics_addr();
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("phoenix");
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    assert_eq!(sample(metrics, "sqlited_litestream_up", &[]), Some(1.0));

    let config = dir.path().join(".litestream").to_string_lossy().into_owned();
    let children = processes_mentioning(&config);
    assert_eq!(children.len(), 1, "one Litestream: {children:?}");
    // SAFETY: kill(2) on the Litestream child found above.
    unsafe { libc::kill(children[0] as i32, libc::SIGKILL) };

    // Writes wait or fail (UNAVAILABLE) meanwhile; once it is back, they are confirmed.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut i = 0;
    loop {
        i += 1;
        let restarted = sample(metrics, "sqlited_litestream_restarts_total", &[]) == Some(1.0);
        match db.execute("INSERT INTO t VALUES (?)", params![i]).await {
            Ok(_) if restarted => break,
            Ok(_) => {}
            Err(err) => assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}"),
        }
        assert!(Instant::now() < deadline, "Litestream was not restarted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = caught_up(&client, "phoenix").await;
    assert!(status.registered && status.synchronous, "{status:?}");
    assert_eq!(processes_mentioning(&config).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_replica_is_unavailable_then_not_serving() {
    if workers_mode() != "threads" {
        return;
    }
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!(
        "s3://nowhere/x?endpoint=http://127.0.0.1:{port}&region=us-east-1&force-path-style=true"
    );
    let dir = tempfile::tempdir().unwrap();
    let server = replicated(
        dir.path(),
        &url,
        &[
            "--replication",
            "sync",
            "--replication-sync-timeout-ms",
            "1000",
            "--replication-unhealthy-secs",
            "1",
        ],
    );
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("stranded");
    let err = db.execute("CREATE TABLE t (x)", ()).await.unwrap_err();
    assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}");
    assert!(err.message().contains("not yet safe"), "{err}");
    // Committed locally all the same.
    assert!(db.query_all("SELECT * FROM t", ()).await.is_ok());

    let mut health = tonic_health::pb::health_client::HealthClient::new(
        tonic::transport::Endpoint::from_shared(server.url())
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "sqlited.v1.Database/stranded".into(),
            })
            .await
            .unwrap()
            .into_inner();
        if answer.status == tonic_health::pb::health_check_response::ServingStatus::NotServing as i32 {
            break;
        }
        assert!(Instant::now() < deadline, "still {answer:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = client.admin().list_databases().await.unwrap();
    let status = listed[0].replication.clone().unwrap();
    assert!(status.sync_failures > 0 && !status.error.is_empty(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_write_is_answered_once_the_replica_holds_it() {
    if workers_mode() != "threads" {
        return;
    }
    let url = replica_url("barrier");
    let dir = tempfile::tempdir().unwrap();
    let server = replicated(
        dir.path(),
        &url,
        &["--replication", "sync", "--replication-interval-ms", "600000"],
    );
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("barrier");
    let status = |client: Client| async move {
        let listed = client.admin().list_databases().await.unwrap();
        listed[0].replication.clone().unwrap()
    };
    // Each way of writing: its answer comes after the replica confirmed it, so the status
    // read right after shows nothing unreplicated (the interval is too long to have helped).
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let after_execute = status(client.clone()).await;
    assert_eq!(after_execute.lag_writes, 0, "{after_execute:?}");
    db.execute_batch(vec![("INSERT INTO t VALUES (1)", ())])
        .await
        .unwrap();
    let after_batch = status(client.clone()).await;
    assert_eq!(after_batch.lag_writes, 0, "{after_batch:?}");
    assert!(after_batch.replica_txid > after_execute.replica_txid);
    let tx = db.begin().await.unwrap();
    tx.execute("INSERT INTO t VALUES (2)", ()).await.unwrap();
    tx.commit().await.unwrap();
    let after_commit = status(client.clone()).await;
    assert_eq!(after_commit.lag_writes, 0, "{after_commit:?}");
    assert!(after_commit.replica_txid > after_batch.replica_txid);
    assert!(after_commit.synchronous && after_commit.last_sync_unix_ms > 0);
}
