//! Generations: every new life of a database file replicates to a fresh path of the replica
//! (`URL/NAME/GEN`), never into the one it was restored from (litestream#781: replicating a
//! restored database into its old path skipped data). Members of the class, each checked by
//! a restore from the object store alone: a database restored by `--restore-if-missing`, one
//! restored from a backup, one dropped and created again; and a server started again on its
//! directory going on in the same generation. (Clients racing to create, use and drop one
//! name under replication are in `cooperation`, with both worker kinds.)

use std::time::Duration;

use sqlited_client::Client;

use crate::replication::store::{
    caught_up, insert, replica_url, replicated, restore, restored_rows, rfc3339_now,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restored_from_its_replica_replicates_to_a_new_generation() {
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
