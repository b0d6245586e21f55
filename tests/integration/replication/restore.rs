//! Restores from the replica alone: every row on an empty directory, and the state at a
//! point in time (a timestamp, a txid) between two batches.

use std::time::Duration;

use sqlited_client::Client;

use crate::replication::store::{caught_up, count, insert, replica_url, replicated, restore, rfc3339_now};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_on_an_empty_directory_gives_every_row() {
    let url = replica_url("every-row");
    let dir = tempfile::tempdir().unwrap();
    let server = replicated(dir.path(), &url, &[]);
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("orders");
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)", ())
        .await
        .unwrap();
    for batch in 0..5 {
        insert(&db, batch * 1000, batch * 1000 + 1000).await;
    }
    let status = caught_up(&client, "orders").await;
    assert!(!status.synchronous && status.sync_failures == 0, "{status:?}");
    assert!(status.last_sync_unix_ms > 0, "{status:?}");

    // While the server runs, from the object store alone.
    let empty = tempfile::tempdir().unwrap();
    let out = restore(empty.path(), &url, "orders", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(count(&empty.path().join("orders.db")), 5000);

    // A second restore of the same name is refused, and so is a directory a server holds.
    let again = restore(empty.path(), &url, "orders", &[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let held = restore(dir.path(), &url, "other", &[]);
    assert!(!held.status.success());
    let missing = restore(tempfile::tempdir().unwrap().path(), &url, "nothing", &[]);
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("holds no copy"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_in_time_restore_gives_the_state_between_two_batches() {
    let url = replica_url("point-in-time");
    let dir = tempfile::tempdir().unwrap();
    let server = replicated(dir.path(), &url, &["--replication", "sync"]);
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("ledger");
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)", ())
        .await
        .unwrap();
    insert(&db, 0, 300).await;
    let first = caught_up(&client, "ledger").await;
    // Litestream dates its files to the second: the point lies a second after the first
    // batch and a second before the second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let between = rfc3339_now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    insert(&db, 300, 700).await;
    let second = caught_up(&client, "ledger").await;
    assert!(second.replica_txid > first.replica_txid);

    for (flag, value) in [
        ("--timestamp", between),
        ("--txid", first.replica_txid.to_string()),
    ] {
        let target = tempfile::tempdir().unwrap();
        let out = restore(target.path(), &url, "ledger", &[flag, &value]);
        assert!(out.status.success(), "{flag}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(count(&target.path().join("ledger.db")), 300, "{flag} {value}");
    }
    let latest = tempfile::tempdir().unwrap();
    let out = restore(latest.path(), &url, "ledger", &[]);
    assert!(out.status.success());
    assert_eq!(count(&latest.path().join("ledger.db")), 700);
}
