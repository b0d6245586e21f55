//! Sync-mode writes and the barrier they wait at (the replication layer's, in front of the
//! workers): a write answered once the replica holds it, by every way of writing; writes
//! UNAVAILABLE while Litestream is dead, until it is restarted and counted; and a replica
//! that cannot be reached answered UNAVAILABLE, then reported NOT_SERVING.

use std::time::Duration;

use sqlited_client::{Client, params};
use tonic::Code;

use crate::harness::eventually;
use crate::metrics::sample;
use crate::replication::store::{caught_up, processes_mentioning, replica_url, replicated};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_litestream_is_restarted_and_counted() {
    let url = replica_url("restarted");
    let dir = tempfile::tempdir().unwrap();
    let server = replicated(
        dir.path(),
        &url,
        &["--replication", "sync", "--metrics-listen", "127.0.0.1:0"],
    );
    let metrics = server.metrics_addr();
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("phoenix");
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    assert_eq!(sample(metrics, "sqlited_litestream_up", &[]), Some(1.0));

    let config = dir.path().join(".litestream").to_string_lossy().into_owned();
    let children = processes_mentioning(&config);
    assert_eq!(children.len(), 1, "one Litestream: {children:?}");
    // SAFETY: kill(2) on the Litestream child found above.
    unsafe { libc::kill(children[0] as i32, libc::SIGKILL) };

    // Writes wait or fail (UNAVAILABLE) meanwhile; once it is back, they are confirmed.
    let i = std::cell::Cell::new(0);
    eventually(Duration::from_secs(20), "Litestream restarted", || async {
        i.set(i.get() + 1);
        let restarted = sample(metrics, "sqlited_litestream_restarts_total", &[]) == Some(1.0);
        match db.execute("INSERT INTO t VALUES (?)", params![i.get()]).await {
            Ok(_) if restarted => Ok(()),
            Ok(_) => Err("a write confirmed, no restart counted yet".to_string()),
            Err(err) => {
                assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}");
                Err(err.to_string())
            }
        }
    })
    .await;
    let status = caught_up(&client, "phoenix").await;
    assert!(status.registered && status.synchronous, "{status:?}");
    assert_eq!(processes_mentioning(&config).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_replica_is_unavailable_then_not_serving() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!(
        "s3://nowhere/x?endpoint=http://127.0.0.1:{port}&region=us-east-1&force-path-style=true"
    );
    let dir = tempfile::tempdir().unwrap();
    let server = replicated(
        dir.path(),
        &url,
        &[
            "--replication",
            "sync",
            "--replication-sync-timeout-ms",
            "1000",
            "--replication-unhealthy-secs",
            "1",
        ],
    );
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("stranded");
    let err = db.execute("CREATE TABLE t (x)", ()).await.unwrap_err();
    assert_eq!(err.status_code(), Some(Code::Unavailable), "{err}");
    assert!(err.message().contains("not yet safe"), "{err}");
    // Committed locally all the same.
    assert!(db.query_all("SELECT * FROM t", ()).await.is_ok());

    let health = tonic_health::pb::health_client::HealthClient::new(
        tonic::transport::Endpoint::from_shared(server.url())
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    eventually(Duration::from_secs(15), "stranded NOT_SERVING", || {
        let mut health = health.clone();
        async move {
            let answer = health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: "sqlited.v1.Database/stranded".into(),
                })
                .await
                .unwrap()
                .into_inner();
            match answer.status() {
                tonic_health::pb::health_check_response::ServingStatus::NotServing => Ok(()),
                _ => Err(format!("{answer:?}")),
            }
        }
    })
    .await;
    let listed = client.admin().list_databases().await.unwrap();
    let status = listed[0].replication.clone().unwrap();
    assert!(status.sync_failures > 0 && !status.error.is_empty(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_write_is_answered_once_the_replica_holds_it() {
    let url = replica_url("barrier");
    let dir = tempfile::tempdir().unwrap();
    let server = replicated(
        dir.path(),
        &url,
        &["--replication", "sync", "--replication-interval-ms", "600000"],
    );
    let client = Client::connect(&server.url()).await.unwrap();
    let db = client.database("barrier");
    let status = |client: Client| async move {
        let listed = client.admin().list_databases().await.unwrap();
        listed[0].replication.clone().unwrap()
    };
    // Each way of writing: its answer comes after the replica confirmed it, so the status
    // read right after shows nothing unreplicated (the interval is too long to have helped).
    db.execute("CREATE TABLE t (x)", ()).await.unwrap();
    let after_execute = status(client.clone()).await;
    assert_eq!(after_execute.lag_writes, 0, "{after_execute:?}");
    db.execute_batch(vec![("INSERT INTO t VALUES (1)", ())])
        .await
        .unwrap();
    let after_batch = status(client.clone()).await;
    assert_eq!(after_batch.lag_writes, 0, "{after_batch:?}");
    assert!(after_batch.replica_txid > after_execute.replica_txid);
    let tx = db.begin().await.unwrap();
    tx.execute("INSERT INTO t VALUES (2)", ()).await.unwrap();
    tx.commit().await.unwrap();
    let after_commit = status(client.clone()).await;
    assert_eq!(after_commit.lag_writes, 0, "{after_commit:?}");
    assert!(after_commit.replica_txid > after_batch.replica_txid);
    assert!(after_commit.synchronous && after_commit.last_sync_unix_ms > 0);
}
