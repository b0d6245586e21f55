//! An acknowledged write survives `kill -9` of the server: 64 concurrent writers, killed in
//! the middle, several rounds, for synchronous=FULL and synchronous=NORMAL.
//!
//! NORMAL in WAL mode is durable against a crash of the process (the WAL is in the OS's
//! page cache); only a power loss or OS crash may lose the last commits. A kill -9 test
//! therefore passes for both; FULL is what protects against power loss.

use std::time::Duration;

use crate::harness::{AckedWriters, Server, lost_acked, scalar};

const WRITERS: i64 = 64;
const ROUNDS: i64 = 3;

async fn acknowledged_writes_survive_kill_9(synchronous: &str) {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--synchronous", synchronous];
    let mut acked_total: Vec<i64> = Vec::new();
    for round in 0..ROUNDS {
        let mut server = Server::start_in(dir.path(), &args);
        let db = server.database("durable").await;
        let writers = AckedWriters::start(&db, WRITERS, round).await;
        // Kill in the middle of the load: once a few hundred writes are acknowledged.
        writers.wait_for(300, Duration::from_secs(20)).await;
        server.kill9();
        let acked = writers.join().await;
        acked_total.extend(acked.iter().map(|(id, _)| id));

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
