//! Memory, temporary storage and files: bounded by the server's limits, never by the SQL.

use std::time::{Duration, Instant};

use sqlited_client::{TransactionOptions, params};
use tonic::Code;

use super::code_of;
use crate::harness::{Server, scalar, eventually};

/// The server's peak resident memory so far, in bytes (VmHWM).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_larger_than_a_message_are_never_built() {
    // The size limit is what this tests: without a budget per request, which would stop the
    // doubling at 24 MiB before it reaches the message size.
    let server = Server::start_with(&["--request-memory-limit", "0"]);
    let db = server.database("app").await;
    let started = Instant::now();
    for sql in [
        "SELECT zeroblob(999000000)",
        "SELECT replace(hex(zeroblob(100000000)), '0', 'ab')",
        "SELECT printf('%.*c', 900000000, 'x')",
        "SELECT length(randomblob(500000000))",
        "WITH RECURSIVE d(s, n) AS (SELECT 'xxxxxxxx', 0 UNION ALL SELECT s || s, n + 1 FROM d \
         WHERE n < 40) SELECT length(s) FROM d",
    ] {
        let err = db.query_all(sql, ()).await.unwrap_err();
        assert_eq!(code_of(err.clone()), Code::ResourceExhausted, "{sql}: {err}");
        assert!(err.to_string().contains("--max-message-bytes"), "{sql}: {err}");
    }
    // Each stopped at the message size (16 MiB), long before gigabytes were built.
    assert!(
        peak_rss(server.pid()) < 512 << 20,
        "peak RSS {} MiB after {:?}",
        peak_rss(server.pid()) >> 20,
        started.elapsed()
    );
    let one: i64 = scalar(&db, "SELECT 1").await;
    assert_eq!(one, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorts_and_temporary_data_count_against_the_memory_limit() {
    // No budget per request: the process-wide cap, the backstop, is what stops them here.
    let server = Server::start_with(&["--sqlite-memory-limit", "64MiB", "--request-memory-limit", "0"]);
    let db = server.database("app").await;
    // A sort of ~200 MB: with temporary data in files it would spill to disk and succeed;
    // in memory, under the cap, it fails and the server goes on.
    let sort = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) \
                SELECT x, randomblob(1000) AS b FROM c ORDER BY b";
    let err = db.query_all(sort, ()).await.unwrap_err();
    assert_eq!(code_of(err.clone()), Code::ResourceExhausted, "{err}");
    assert!(err.to_string().contains("--sqlite-memory-limit"), "{err}");
    // Sixty values just under the size cap each: SQLite builds the whole row (600 MB) before
    // the server sees it, so it is the memory cap that stops it, not the size check.
    let wide = format!("SELECT {}", vec!["zeroblob(10000000)"; 60].join(", "));
    let err = db.query_all(&wide, ()).await.unwrap_err();
    assert_eq!(code_of(err.clone()), Code::ResourceExhausted, "{err}");
    let temp = "CREATE TABLE big AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 \
                FROM c WHERE x < 10) SELECT x FROM c";
    db.execute(temp, ()).await.unwrap();
    let one: i64 = scalar(&db, "SELECT count(*) FROM big").await;
    assert_eq!(one, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_links_into_the_data_directory_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    // An empty file: SQLite would take it as a new database and write to it.
    let secret = outside.path().join("secret.db");
    std::fs::File::create(&secret).unwrap();
    let server = Server::start();
    std::fs::hard_link(&secret, server.data_dir.join("evil.db")).unwrap();

    let evil = server.database("evil").await;
    let err = evil
        .execute("CREATE TABLE stolen (x)", ())
        .await
        .unwrap_err();
    assert_eq!(code_of(err.clone()), Code::PermissionDenied, "{err}");
    assert!(err.to_string().contains("hard link"), "{err}");
    let listed = sqlited_client::Client::connect(&server.url())
        .await
        .unwrap()
        .admin()
        .list_databases()
        .await
        .unwrap();
    assert!(
        listed.iter().all(|d| d.name != "evil"),
        "a hard link is listed: {listed:?}"
    );
    assert_eq!(std::fs::metadata(&secret).unwrap().len(), 0, "the outside file was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_swapped_in_after_the_first_open_are_refused_by_later_connections() {
    for kind in ["symlink", "hard link"] {
        let outside = tempfile::tempdir().unwrap();
        let server = Server::start();
        let db = server.database("app").await;
        db.execute("CREATE TABLE t (x)", ()).await.unwrap();
        db.execute("INSERT INTO t VALUES ('inside')", ()).await.unwrap();

        // Swap app.db for a link to a file outside, while the database is open.
        let path = server.data_dir.join("app.db");
        let secret = outside.path().join("secret.db");
        std::fs::copy(&path, &secret).unwrap();
        let kept = server.data_dir.join("app.kept");
        std::fs::rename(&path, &kept).unwrap();
        if kind == "symlink" {
            std::os::unix::fs::symlink(&secret, &path).unwrap();
        } else {
            std::fs::hard_link(&secret, &path).unwrap();
        }
        // A read-only transaction opens a new reader connection: it cannot, so it is
        // refused at once — UNAVAILABLE with a retry delay, as the database is open and the
        // server tries again — saying why, without naming a path of the server.
        let read_only = TransactionOptions {
            read_only: true,
            ..Default::default()
        };
        let err = db
            .begin_with(read_only)
            .await
            .err()
            .unwrap_or_else(|| panic!("{kind}: a read-only transaction opened through a link"));
        assert_eq!(code_of(err.clone()), Code::Unavailable, "{kind}: {err}");
        assert!(err.retry_after().is_some(), "{kind}: {err}");
        let why = if kind == "symlink" { "symbolic link" } else { kind };
        assert!(err.message().contains(why), "{kind}: {err}");
        let dir = server.data_dir.to_string_lossy().into_owned();
        assert!(!err.message().contains(&dir), "{kind}: {err}");

        // Once the file is back, read-only transactions begin again by themselves.
        std::fs::remove_file(&path).unwrap();
        std::fs::rename(&kept, &path).unwrap();
        eventually(Duration::from_secs(45), "read-only transactions again", || async {
            db.begin_with(read_only).await.is_ok()
        })
        .await;
        let tx = db.begin_with(read_only).await.unwrap();
        let inside: String = scalar(&tx, "SELECT x FROM t").await;
        assert_eq!(inside, "inside", "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_checkpoints_the_wal_without_complaint() {
    let mut server = Server::start();
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    for i in 0..20 {
        db.execute("INSERT INTO t VALUES (?)", params![i])
            .await
            .unwrap();
    }
    drop(db);
    assert!(server.terminate().success());
    let log = server.log();
    assert!(!log.contains("checkpoint at close failed"), "{log}");
    let wal = server.data_dir.join("app.db-wal");
    let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert_eq!(size, 0, "the WAL holds {size} bytes after a clean stop");
}

