//! The Admin service: sizes, maintenance, and a backup taken under load that restores to a
//! sound, prefix-consistent database.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlited_client::{Client, params};
use tonic::Code;

use crate::harness::{Server, eventually, restore, scalar};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_checkpoint_optimize_vacuum() {
    let server = Server::start();
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("maint");
    db.execute("CREATE TABLE t (x BLOB)", ()).await.unwrap();
    db.execute_many(
        "INSERT INTO t VALUES (zeroblob(10000))",
        (0..200).map(|_| ()),
    )
    .await
    .unwrap();
    let admin = client.admin();
    let listed = admin.list_databases().await.unwrap();
    let info = listed.iter().find(|d| d.name == "maint").expect("listed");
    assert!(info.open);
    assert!(info.file_bytes + info.wal_bytes > 2_000_000, "{info:?}");

    let (frames, copied) = admin.checkpoint("maint").await.unwrap();
    assert!(frames >= 0 && copied >= 0 && copied <= frames.max(copied));
    let info = admin
        .list_databases()
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.name == "maint")
        .unwrap();
    assert_eq!(info.wal_bytes, 0, "TRUNCATE empties the WAL");

    admin.optimize("maint").await.unwrap();
    db.execute("DELETE FROM t", ()).await.unwrap();
    admin.checkpoint("maint").await.unwrap();
    let (before, after) = admin.vacuum("maint").await.unwrap();
    assert!(after < before / 2, "vacuum {before} -> {after}");
    assert_eq!(scalar::<i64>(&db, "SELECT count(*) FROM t").await, 0);

    let err = admin.checkpoint("../etc").await.unwrap_err();
    assert_eq!(err.status_code(), Some(Code::InvalidArgument), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_restores_to_a_consistent_database() {
    let server = Server::start();
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("live");
    db.execute(
        "CREATE TABLE log (writer INTEGER, seq INTEGER, PRIMARY KEY (writer, seq))",
        (),
    )
    .await
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..16i64 {
        let db = db.clone();
        let stop = Arc::clone(&stop);
        writers.push(tokio::spawn(async move {
            let mut seq = 0i64;
            while !stop.load(Ordering::Relaxed) {
                db.execute("INSERT INTO log VALUES (?, ?)", params![writer, seq])
                    .await
                    .unwrap();
                seq += 1;
            }
            seq
        }));
    }
    let bound = std::time::Duration::from_secs(30);
    eventually(bound, "500 rows written", || async {
        scalar::<i64>(&db, "SELECT count(*) FROM log").await >= 500
    })
    .await;
    let mut backup = Vec::new();
    let bytes = client.admin().backup("live", &mut backup).await.unwrap();
    assert_eq!(bytes as usize, backup.len());
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let out = restore(dir.path(), "copy", &backup, false);
    assert!(out.status.success(), "{out:?}");
    let restored = Server::start_in(dir.path(), &[]);
    let copy = restored.database("copy").await;
    assert_eq!(
        scalar::<String>(&copy, "PRAGMA integrity_check").await,
        "ok"
    );
    // Every writer's rows in the backup are a prefix 0..k of what it wrote.
    let mut seqs: HashMap<i64, Vec<i64>> = HashMap::new();
    for row in copy
        .query_all("SELECT writer, seq FROM log ORDER BY writer, seq", ())
        .await
        .unwrap()
    {
        seqs.entry(row.get(0).unwrap())
            .or_default()
            .push(row.get(1).unwrap());
    }
    assert!(seqs.values().map(Vec::len).sum::<usize>() >= 500);
    for (writer, seqs) in &seqs {
        assert!(
            seqs.iter().enumerate().all(|(i, s)| *s == i as i64),
            "writer {writer}: gap in {seqs:?}"
        );
    }

    // Not while a server holds the data directory, even with --force.
    let live = restore(dir.path(), "copy", &backup, true);
    assert!(!live.status.success());
    assert!(
        String::from_utf8_lossy(&live.stderr).contains("in use by a running sqlited"),
        "{live:?}"
    );
    drop(copy);
    drop(restored);
    // An existing database is kept unless --force.
    let again = restore(dir.path(), "copy", &backup, false);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("--force"),
        "{again:?}"
    );
}

#[test]
fn restore_refuses_garbage() {
    let dir = tempfile::tempdir().unwrap();
    for garbage in [&b"not a database at all"[..], b"", &[0u8; 4096]] {
        let out = restore(dir.path(), "bad", garbage, false);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not a SQLite database"),
            "{out:?}"
        );
    }
    // A SQLite header on a damaged body fails integrity_check or opening.
    let mut fake = b"SQLite format 3\0".to_vec();
    fake.extend(std::iter::repeat_n(0xAB, 8192));
    let out = restore(dir.path(), "bad", &fake, false);
    assert!(!out.status.success(), "{out:?}");
    assert!(!dir.path().join("bad.db").exists());
    let out = restore(dir.path(), "../escape", b"x", false);
    assert!(!out.status.success());
}
