//! Memory that outlives its request: the prepared statements a connection caches. A client
//! sending many distinct, large statements (thousands of terms each) once filled every
//! connection's statement cache with them, beyond any request's budget; the cache is
//! bounded in bytes (`--statement-cache-memory`), so they leave nothing behind.

use tonic::Code;

use crate::harness::{Server, scalar};

/// A distinct statement of `terms` terms: compiled, about 4.7 MB.
fn big(id: usize, terms: usize, prefix: &str) -> String {
    let list: Vec<String> = (0..terms).map(|i| (i * 7 + id).to_string()).collect();
    format!("{prefix} SELECT {id} WHERE {id} IN ({})", list.join(","))
}

// Under a 64 MiB cap on SQLite's memory (per worker process with --workers processes), one
// reader and the writer each see 40 distinct statements of about 4.7 MB: kept, they would
// hold 190 MB, and the cap would refuse the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_big_statements_leave_no_memory_behind_on_readers_or_the_writer() {
    let server = Server::start_with(&["--readers", "1", "--sqlite-memory-limit", "64MiB"]);
    let db = server.database("app").await;
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    for id in 0..40 {
        let read = big(id, 40_000, "");
        let rows = db.query_all(&read, ()).await.unwrap_or_else(|err| {
            assert_ne!(err.status_code(), Some(Code::ResourceExhausted), "read {id}: {err}");
            panic!("read {id}: {err}")
        });
        assert_eq!(rows.len(), 1, "read {id}");
        let write = big(id, 40_000, "INSERT INTO t");
        let done = db.execute(&write, ()).await.unwrap_or_else(|err| {
            assert_ne!(err.status_code(), Some(Code::ResourceExhausted), "write {id}: {err}");
            panic!("write {id}: {err}")
        });
        assert_eq!(done.rows_affected, 1, "write {id}");
    }
    assert_eq!(scalar::<i64>(&db, "SELECT count(*) FROM t").await, 40);
    // A small statement is still cached and served as before.
    for _ in 0..3 {
        assert_eq!(scalar::<i64>(&db, "SELECT count(*) FROM t WHERE x < 20").await, 20);
    }
}
