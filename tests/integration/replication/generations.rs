//! Generations: every new life of a database file replicates to a fresh path of the replica
//! (`URL/NAME/GEN`), never into the one it was restored from (litestream#781: replicating a
//! restored database into its old path skipped data). Members of the class, each checked by
//! a restore from the object store alone: a database restored by `--restore-if-missing`, one
//! restored from a backup, one dropped and created again; and a server started again on its
//! directory going on in the same generation. And clients racing to create, use and drop one
//! name under replication: answers they can act on, the last life whole in its generation.

use std::time::Duration;

use sqlited_client::{Client, params};

use super::store::{caught_up, count, insert, replica_url, replicated, restore, rfc3339_now};
use crate::harness::workers_mode;

/// The rows of `database` restored from the replica alone (with extra flags).
fn restored_rows(url: &str, database: &str, args: &[&str]) -> i64 {
    let target = tempfile::tempdir().unwrap();
    let out = restore(target.path(), url, database, args);
    assert!(
        out.status.success(),
        "restore {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    count(&target.path().join(format!("{database}.db")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restored_from_its_replica_replicates_to_a_new_generation() {
    if workers_mode() != "threads" {
        return; // the replication layer does not depend on the worker kind
    }
    let url = replica_url("new-generation");
    let args = ["--replication", "sync", "--restore-if-missing"];

    // First life: generation 1.
    let first = tempfile::tempdir().unwrap();
    let mut server = replicated(first.path(), &url, &args);
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("orders");
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)", ())
        .await
        .unwrap();
    insert(&db, 0, 300).await;
    let status = caught_up(&client, "orders").await;
    assert_eq!(status.generation, 1, "{status:?}");
    assert!(status.replica_url.contains("/orders/00000001"), "{status:?}");
    // Litestream dates its files to the second: the point lies a second after the first
    // life's writes and a second before the second life begins.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let during_first_life = rfc3339_now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    server.kill9();
    drop(first);

    // Second life: restored on a new machine, then written to, in generation 2.
    let second = tempfile::tempdir().unwrap();
    let mut server = replicated(second.path(), &url, &args);
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("orders");
    let rows: i64 = crate::harness::scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(rows, 300);
    insert(&db, 300, 700).await;
    let status = caught_up(&client, "orders").await;
    assert_eq!(status.generation, 2, "{status:?}");
    assert!(status.replica_url.contains("/orders/00000002"), "{status:?}");
    server.kill9();
    drop(second);

    // Third life, restored from the second: every acknowledged write of both lives.
    let third = tempfile::tempdir().unwrap();
    let server = replicated(third.path(), &url, &args);
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("orders");
    let rows: i64 = crate::harness::scalar(&db, "SELECT count(*) FROM t").await;
    assert_eq!(rows, 700);
    insert(&db, 700, 750).await;
    let status = caught_up(&client, "orders").await;
    assert_eq!(status.generation, 3, "{status:?}");

    // From the object store alone: the latest state, an older generation, and a point in
    // time of the first life (found in generation 1, though generations 2 and 3 are newer).
    assert_eq!(restored_rows(&url, "orders", &[]), 750);
    assert_eq!(restored_rows(&url, "orders", &["--generation", "2"]), 700);
    assert_eq!(
        restored_rows(&url, "orders", &["--timestamp", &during_first_life]),
        300
    );
    let none = restore(
        tempfile::tempdir().unwrap().path(),
        &url,
        "orders",
        &["--generation", "9"],
    );
    assert!(!none.status.success());
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("no generation 9"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
    let too_old = restore(
        tempfile::tempdir().unwrap().path(),
        &url,
        "orders",
        &["--timestamp", "2001-01-01T00:00:00Z"],
    );
    assert!(
        String::from_utf8_lossy(&too_old.stderr).contains("no state as old"),
        "{}",
        String::from_utf8_lossy(&too_old.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_file_under_an_old_name_never_writes_into_the_old_generation() {
    if workers_mode() != "threads" {
        return;
    }
    let url = replica_url("fresh-file");
    let dir = tempfile::tempdir().unwrap();
    let mut server = replicated(dir.path(), &url, &["--replication", "sync"]);
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("notes");
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)", ())
        .await
        .unwrap();
    insert(&db, 0, 100).await;
    assert_eq!(caught_up(&client, "notes").await.generation, 1);
    let mut backup = Vec::new();
    client.admin().backup("notes", &mut backup).await.unwrap();

    // Dropped and created again: a new file, so a new generation.
    client.admin().drop_database("notes", false).await.unwrap();
    let db = client.database("notes");
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)", ())
        .await
        .unwrap();
    insert(&db, 0, 5).await;
    assert_eq!(caught_up(&client, "notes").await.generation, 2);
    assert_eq!(restored_rows(&url, "notes", &[]), 5);

    // A server started again on its directory goes on in the same generation.
    assert!(server.terminate().success());
    let mut server = replicated(dir.path(), &url, &["--replication", "sync"]);
    let client = Client::connect(&server.url()).await.unwrap();
    insert(&client.database("notes"), 5, 10).await;
    assert_eq!(caught_up(&client, "notes").await.generation, 2);
    assert_eq!(restored_rows(&url, "notes", &[]), 10);

    // Restored from a backup while the server is stopped: a new file again.
    assert!(server.terminate().success());
    let out = crate::harness::restore(dir.path(), "notes", &backup, true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let server = replicated(dir.path(), &url, &["--replication", "sync"]);
    let client = Client::connect(&server.url()).await.unwrap();
    insert(&client.database("notes"), 100, 101).await;
    assert_eq!(caught_up(&client, "notes").await.generation, 3);
    assert_eq!(restored_rows(&url, "notes", &[]), 101);
    assert_eq!(restored_rows(&url, "notes", &["--generation", "2"]), 10);
    drop(server);
}

/// The lag in WAL frames, and the sync waits, in ListDatabases and /metrics; run with both
/// worker kinds (a worker process sends the writer's frames over its wire).
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
