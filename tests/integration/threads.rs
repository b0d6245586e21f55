//! Many threads share one blocking Connection: nothing is lost, every thread reads its writes.

use std::collections::HashSet;

use sqlited_client::{blocking, params};

use crate::harness::Server;

const THREADS: i64 = 32;
const PER_THREAD: i64 = 40;

#[test]
fn thirty_two_threads_share_one_connection() {
    let server = Server::start();
    let conn = blocking::connect(&server.db_url("shared")).unwrap();
    conn.execute(
        "CREATE TABLE log (thread INTEGER, seq INTEGER, PRIMARY KEY (thread, seq))",
        (),
    )
    .unwrap();

    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let conn = conn.clone();
            scope.spawn(move || {
                let mut cur = conn.cursor();
                for seq in 0..PER_THREAD {
                    cur.execute("INSERT INTO log VALUES (?, ?)", params![thread, seq])
                        .unwrap();
                    assert_eq!(cur.rowcount(), 1);
                    // An acknowledged write is visible to the next read, wherever it runs.
                    let row = conn
                        .query_one("SELECT count(*) FROM log WHERE thread = ?", params![thread])
                        .unwrap();
                    assert_eq!(row.get::<i64>(0).unwrap(), seq + 1);
                    if seq % 10 == 0 {
                        conn.query(
                            "SELECT thread, seq FROM log ORDER BY thread, seq LIMIT 100",
                            (),
                        )
                        .unwrap();
                    }
                }
            });
        }
    });

    let rows = conn.query("SELECT thread, seq FROM log", ()).unwrap();
    let seen: HashSet<(i64, i64)> = rows
        .iter()
        .map(|r| (r.get(0).unwrap(), r.get(1).unwrap()))
        .collect();
    assert_eq!(seen.len() as i64, THREADS * PER_THREAD);
    for thread in 0..THREADS {
        for seq in 0..PER_THREAD {
            assert!(seen.contains(&(thread, seq)), "lost ({thread}, {seq})");
        }
    }
    assert!(!server.log().contains("database is locked"));
}
