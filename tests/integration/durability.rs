//! An acknowledged write survives `kill -9` of the server (64 concurrent writers, killed in
//! the middle, several rounds), and the writer runs at the `--synchronous` level asked for.
//!
//! A kill -9 ends the process, not the machine: at `normal` in WAL mode a COMMIT has written
//! the WAL into the OS's page cache before it is acknowledged, and the page cache survives.
//! What `full` adds, an fsync at each COMMIT, protects against a power loss or an OS crash,
//! which no test here can cause; against a kill -9 the two levels run the same writes. So
//! the kill runs at `normal`, the weaker level the README says survives it (a write lost
//! there would be lost at `full` too), and every level is checked to reach the writer's
//! connection (through a worker process's start, too): a server that lost the flag on its
//! way would run `full` as something else, unnoticed by any kill.

use std::time::Duration;

use crate::harness::{AckedWriters, Server, lost_acked, scalar};

const WRITERS: i64 = 64;
const ROUNDS: i64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--synchronous", "normal"];
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
async fn every_synchronous_level_is_the_writers() {
    // SQLite's numbers for the levels; none is the level of another flag's value, so a flag
    // lost or mixed up on its way shows.
    for (flag, level) in [("off", 0), ("normal", 1), ("full", 2), ("extra", 3)] {
        let server = Server::start_with(&["--synchronous", flag]);
        let db = server.database("levels").await;
        // A read-write transaction runs on the writer's own connection.
        let tx = db.begin().await.unwrap();
        let seen: i64 = scalar(&tx, "PRAGMA synchronous").await;
        tx.rollback().await.unwrap();
        assert_eq!(seen, level, "--synchronous {flag}");
    }
    // Without the flag: full, the default the README names.
    let server = Server::start();
    let tx = server.database("levels").await.begin().await.unwrap();
    assert_eq!(scalar::<i64>(&tx, "PRAGMA synchronous").await, 2);
}
