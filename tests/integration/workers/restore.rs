//! A copy restored from the replica (`--restore-if-missing`) is checked by a worker process:
//! the server process never opens the downloaded file, which may be damaged or hostile.

use sqlited_client::Client;

use super::{Sampler, plain};
use crate::harness::scalar;
use crate::replication::store::{caught_up, replica_url, replicated};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_restored_from_the_replica_is_opened_only_by_a_worker_process() {
    let url = replica_url("checked-by-a-worker");
    // A database large enough that its check takes a while (about 10 MB), in the replica.
    let first = tempfile::tempdir().unwrap();
    let mut server = replicated(first.path(), &url, &["--workers", "processes"]);
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("app");
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
         INSERT INTO t SELECT randomblob(500) FROM n",
        (),
    )
    .await
    .unwrap();
    caught_up(&client, "app").await;
    assert!(server.terminate().success(), "{}", server.log());

    // A new machine: the database comes back from the replica on first use. Sampled all
    // through that restore, the server process itself holds neither the copy Litestream
    // downloaded (`.restore-app-PID.db`) nor the database.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap();
    let server = replicated(
        &data,
        &url,
        &["--workers", "processes", "--restore-if-missing"],
    );
    let sampler = Sampler::start(server.pid(), &data);
    let db = server.database("app").await;
    assert_eq!(scalar::<i64>(&db, "SELECT count(*) FROM t").await, 20_000);
    sampler.assert_none_seen();
    let log = plain(&server.log());
    assert!(log.contains("restored from the replica"), "{log}");
    // The copy was checked, by a worker process of its own.
    assert!(
        log.lines()
            .any(|line| line.contains("worker process started") && line.contains(".restore-app-")),
        "{log}"
    );
}
