//! An object store that cannot be reached: down when the server starts, lost mid-run
//! (killed), back later on the same port and directory. Meanwhile the server serves reads
//! and async writes, answers each sync-mode write UNAVAILABLE within its deadline (never a
//! hang, never an OK for a write the replica lacks), and reports the replica failing; once
//! the store is back it replicates again on its own, and every acknowledged write is in a
//! restore from the store alone.

use std::time::{Duration, Instant};

use sqlited_client::{Client, params};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::replication::store::{Store, caught_up, replicated, restore};
use crate::harness::{Server, eventually, scalar, workers_mode};

/// `--replication-sync-timeout-ms`: how long a sync-mode write waits for the replica.
const SYNC_TIMEOUT: Duration = Duration::from_millis(2000);

/// How long a write may take at most: the sync timeout and a margin for the machine.
const WRITE_BOUND: Duration = Duration::from_millis(3500);

/// How long the store may take to be usable again once it is started.
const RECOVERY: Duration = Duration::from_secs(60);

/// The health of database `name`.
async fn health(server: &Server, name: &str) -> Result<ServingStatus, String> {
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .map_err(|err| err.to_string())?;
    let answer = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: format!("sqlited.v1.Database/{name}"),
        })
        .await
        .map_err(|status| status.to_string())?;
    Ok(answer.into_inner().status())
}

/// Waits until database `name`'s health is `wanted`.
async fn health_becomes(server: &Server, name: &str, wanted: ServingStatus) {
    let what = format!("{name} {wanted:?}");
    eventually(Duration::from_secs(30), &what, || async {
        match health(server, name).await? {
            status if status == wanted => Ok(()),
            status => Err(format!("{status:?}")),
        }
    })
    .await
}

/// Inserts `id` into `db`'s table `t`: true when acknowledged. A refusal must be the clear
/// answer of a write the replica does not hold yet, and no write may take longer than
/// `bound`.
async fn write(db: &sqlited_client::Database, id: i64, bound: Duration) -> bool {
    let began = Instant::now();
    let result = db.execute("INSERT INTO t VALUES (?)", params![id]).await;
    let took = began.elapsed();
    assert!(took < bound, "write {id} took {took:?} (bound {bound:?}): {result:?}");
    match result {
        Ok(_) => true,
        Err(err) => {
            assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}");
            assert!(err.message().contains("not yet safe"), "{err}");
            assert!(err.is_retryable(), "{err}");
            false
        }
    }
}

/// Writes to sync-mode `db` until a write is acknowledged (the store is back); its id.
async fn confirmed_again(db: &sqlited_client::Database, next: &mut i64) -> i64 {
    let what = "a sync write confirmed once the store is up";
    eventually(RECOVERY, what, || {
        *next += 1;
        let (db, id) = (db.clone(), *next);
        async move {
            match write(&db, id, WRITE_BOUND).await {
                true => Ok(id),
                false => Err(format!("write {id} refused")),
            }
        }
    })
    .await
}

/// The replication status of `name` in ListDatabases.
async fn status(client: &Client, name: &str) -> sqlited_client::proto::v1::ReplicationStatus {
    let listed = client.admin().list_databases().await.unwrap();
    listed
        .into_iter()
        .find(|d| d.name == name)
        .and_then(|d| d.replication)
        .unwrap_or_else(|| panic!("no replication status for {name}"))
}

/// Asserts `name`'s replica is reported failing, with a reason that names no server path.
async fn reported_failing(client: &Client, name: &str, data_dir: &std::path::Path) {
    let status = status(client, name).await;
    assert!(
        status.sync_failures > 0 && !status.error.is_empty() && status.failing_ms > 0,
        "{name}: {status:?}"
    );
    let dir = data_dir.to_string_lossy();
    assert!(!status.error.contains(dir.as_ref()), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_store_is_survived_and_caught_up_once_it_is_back() {
    let mut store = Store::down();
    let url = store.url(&format!("outage-{}", workers_mode()));
    let dir = tempfile::tempdir().unwrap();
    let timeout = SYNC_TIMEOUT.as_millis().to_string();
    let mut server = replicated(
        dir.path(),
        &url,
        &[
            "--replication-override",
            "paid=sync",
            "--replication-sync-timeout-ms",
            &timeout,
            "--replication-unhealthy-secs",
            "1",
            "--replication-interval-ms",
            "200",
        ],
    );
    let client = Client::connect(&server.url()).await.unwrap();
    let notes = client.database("notes"); // async
    let paid = client.database("paid"); // sync
    let (mut notes_acked, mut paid_acked) = (Vec::new(), Vec::new());
    let mut next = 0i64;

    // Down at start: the server serves reads and async writes; a sync write is refused,
    // in time, and exists locally all the same.
    notes
        .execute("CREATE TABLE t (id INTEGER PRIMARY KEY)", ())
        .await
        .unwrap();
    let err = paid
        .execute("CREATE TABLE t (id INTEGER PRIMARY KEY)", ())
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}");
    for _ in 0..20 {
        next += 1;
        assert!(write(&notes, next, WRITE_BOUND).await);
        notes_acked.push(next);
    }
    assert_eq!(scalar::<i64>(&notes, "SELECT count(*) FROM t").await, 20);
    for _ in 0..2 {
        next += 1;
        assert!(!write(&paid, next, WRITE_BOUND).await);
    }
    // A call deadline shorter than the sync timeout: answered within it, and UNAVAILABLE.
    next += 1;
    let short = Duration::from_millis(800);
    assert!(!write(&paid.with_timeout(Some(short)), next, short).await);
    health_becomes(&server, "paid", ServingStatus::NotServing).await;
    health_becomes(&server, "notes", ServingStatus::NotServing).await;
    reported_failing(&client, "paid", dir.path()).await;
    reported_failing(&client, "notes", dir.path()).await;

    // The store comes up: replication starts on its own, sync writes are confirmed again.
    store.start();
    paid_acked.push(confirmed_again(&paid, &mut next).await);
    caught_up(&client, "notes").await;
    caught_up(&client, "paid").await;
    health_becomes(&server, "paid", ServingStatus::Serving).await;
    health_becomes(&server, "notes", ServingStatus::Serving).await;
    let scratch = client.database("scratch");
    scratch
        .execute("CREATE TABLE t (id INTEGER PRIMARY KEY)", ())
        .await
        .unwrap();
    assert!(write(&scratch, -1, WRITE_BOUND).await);
    caught_up(&client, "scratch").await;

    // Lost mid-run: sync writes are refused in time, async ones go on.
    store.kill();
    for _ in 0..3 {
        next += 1;
        assert!(!write(&paid, next, WRITE_BOUND).await);
    }
    next += 1;
    assert!(!write(&paid.with_timeout(Some(short)), next, short).await);
    for _ in 0..20 {
        next += 1;
        assert!(write(&notes, next, WRITE_BOUND).await);
        notes_acked.push(next);
    }
    health_becomes(&server, "paid", ServingStatus::NotServing).await;
    reported_failing(&client, "paid", dir.path()).await;
    // A drop does not wait for a store that does not answer, and leaves Litestream nothing
    // of the old file: the name created again replicates to a generation of its own.
    let began = Instant::now();
    assert!(client.admin().drop_database("scratch", false).await.unwrap());
    assert!(began.elapsed() < WRITE_BOUND, "the drop took {:?}", began.elapsed());
    scratch
        .execute("CREATE TABLE t (id INTEGER PRIMARY KEY)", ())
        .await
        .unwrap();
    assert!(write(&scratch, -2, WRITE_BOUND).await);

    // Back on the same port and directory: replication resumes by itself.
    store.start();
    paid_acked.push(confirmed_again(&paid, &mut next).await);
    caught_up(&client, "notes").await;
    caught_up(&client, "paid").await;
    let recreated = caught_up(&client, "scratch").await;
    assert_eq!(recreated.generation, 2, "{recreated:?}");
    health_becomes(&server, "paid", ServingStatus::Serving).await;

    // Every acknowledged write is in the replica: restored from the store alone.
    assert!(server.terminate().success(), "{}", server.log());
    let scratch_acked = vec![-2];
    for (name, acked) in [
        ("notes", &notes_acked),
        ("paid", &paid_acked),
        ("scratch", &scratch_acked),
    ] {
        let target = tempfile::tempdir().unwrap();
        let out = restore(target.path(), &url, name, &[]);
        assert!(
            out.status.success(),
            "restore {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conn = rusqlite::Connection::open(target.path().join(format!("{name}.db"))).unwrap();
        let mut statement = conn.prepare("SELECT id FROM t").unwrap();
        let present: std::collections::HashSet<i64> = statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let lost: Vec<_> = acked.iter().filter(|id| !present.contains(id)).collect();
        assert!(lost.is_empty(), "{name}: acknowledged writes lost: {lost:?}");
        if name == "scratch" {
            assert!(!present.contains(&-1), "the dropped file's row came back");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_store_is_down_drops_and_stops_promptly() {
    let store = Store::down();
    let url = store.url(&format!("down-{}", workers_mode()));
    let dir = tempfile::tempdir().unwrap();
    let mut server = replicated(dir.path(), &url, &[]);
    let client = Client::connect(&server.url()).await.unwrap();
    for name in ["kept", "gone"] {
        let db = client.database(name);
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)", ())
            .await
            .unwrap();
        assert!(write(&db, 1, WRITE_BOUND).await);
    }
    // Neither waits for the replica's listing, which runs the sync timeout (10 s) against
    // a store that does not answer.
    let began = Instant::now();
    assert!(client.admin().drop_database("gone", false).await.unwrap());
    assert!(began.elapsed() < WRITE_BOUND, "the drop took {:?}", began.elapsed());
    let began = Instant::now();
    assert!(server.terminate().success(), "{}", server.log());
    assert!(began.elapsed() < WRITE_BOUND, "the stop took {:?}", began.elapsed());
    // What was written is on the local disk all the same.
    assert_eq!(crate::replication::store::count(&dir.path().join("kept.db")), 1);
}

