//! An acknowledged write survives `kill -9` of the server: 64 concurrent writers, killed in
//! the middle, several rounds, for synchronous=FULL and synchronous=NORMAL.
//!
//! NORMAL in WAL mode is durable against a crash of the process (the WAL is in the OS's
//! page cache); only a power loss or OS crash may lose the last commits. A kill -9 test
//! therefore passes for both; FULL is what protects against power loss.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlited_client::params;

use crate::harness::{Server, lost_acked, scalar};

const WRITERS: i64 = 64;
const ROUNDS: i64 = 3;

async fn acknowledged_writes_survive_kill_9(synchronous: &str) {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--synchronous", synchronous];
    let mut acked_total: Vec<i64> = Vec::new();
    for round in 0..ROUNDS {
        let mut server = Server::start_in(dir.path(), &args);
        let db = server.database("durable").await;
        db.execute(
            "CREATE TABLE IF NOT EXISTS acked (id INTEGER PRIMARY KEY, writer INTEGER)",
            (),
        )
        .await
        .unwrap();
        let acked = Arc::new(Mutex::new(Vec::new()));
        let mut writers = Vec::new();
        for writer in 0..WRITERS {
            let db = db.clone();
            let acked = Arc::clone(&acked);
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    let id = round * 10_000_000 + writer * 100_000 + i;
                    match db
                        .execute("INSERT INTO acked VALUES (?, ?)", params![id, writer])
                        .await
                    {
                        Ok(_) => acked.lock().unwrap().push(id),
                        Err(_) => break,
                    }
                }
            }));
        }
        // Kill in the middle of the load: once a few hundred writes are acknowledged.
        let deadline = Instant::now() + Duration::from_secs(20);
        while acked.lock().unwrap().len() < 300 {
            assert!(
                Instant::now() < deadline,
                "writes are not being acknowledged"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill9();
        for writer in writers {
            tokio::time::timeout(Duration::from_secs(30), writer)
                .await
                .unwrap()
                .unwrap();
        }
        acked_total.extend(acked.lock().unwrap().iter());

        let mut server = Server::start_in(dir.path(), &args);
        let db = server.database("durable").await;
        let check: String = scalar(&db, "PRAGMA integrity_check").await;
        assert_eq!(check, "ok");
        let lost = lost_acked(&db, &acked_total).await;
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged ids lost after kill -9: {lost:?}"
        );
        assert!(server.terminate().success());
    }
    assert!(acked_total.len() >= (ROUNDS * 300) as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_write_with_synchronous_full() {
    acknowledged_writes_survive_kill_9("full").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_write_with_synchronous_normal() {
    acknowledged_writes_survive_kill_9("normal").await;
}
