//! Interactive transactions over HTTP: begin, statements with the id, commit, rollback,
//! read-only ones, the lease.

use serde_json::json;

use super::{post, sql, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn begin_work_commit_and_rollback() {
    let (_server, addr) = start(&[]);
    sql(addr, "app", "execute", json!({"sql": "CREATE TABLE acct (id INTEGER PRIMARY KEY, balance INTEGER)"})).await.ok();
    sql(addr, "app", "execute", json!({"sql": "INSERT INTO acct VALUES (1, 100), (2, 0)"})).await.ok();
    sql(addr, "other", "execute", json!({"sql": "CREATE TABLE x (y)"})).await.ok();

    let begun = post(addr, "/v1/databases/app/transactions", &json!({"mode": "immediate"})).send().await.ok();
    let id = begun["transaction_id"].as_str().unwrap().to_string();
    assert_eq!(begun["lease_ms"], 30000);
    let tx = |what: &str| format!("/v1/databases/app/transactions/{id}/{what}");
    post(addr, &tx("execute"), &json!({"sql": "UPDATE acct SET balance = balance - ? WHERE id = 1", "params": [10]})).send().await.ok();
    post(addr, &tx("batch"), &json!({"statements": [{"sql": "UPDATE acct SET balance = balance + 10 WHERE id = 2"}]})).send().await.ok();
    // It sees its own writes; nobody else does until it commits.
    let inside = post(addr, &tx("query"), &json!({"sql": "SELECT balance FROM acct ORDER BY id"})).send().await.ok();
    assert_eq!(inside["rows"], json!([[90], [10]]));
    let outside = sql(addr, "app", "query", json!({"sql": "SELECT balance FROM acct ORDER BY id"})).await.ok();
    assert_eq!(outside["rows"], json!([[100], [0]]));
    // The id belongs to its database.
    let elsewhere = post(addr, &format!("/v1/databases/other/transactions/{id}/query"), &json!({"sql": "SELECT 1"})).send().await;
    assert_eq!(elsewhere.error(400)["code"], "INVALID_ARGUMENT");
    let elsewhere = post(addr, &format!("/v1/databases/other/transactions/{id}/commit"), &json!({})).send().await;
    assert_eq!(elsewhere.error(400)["code"], "INVALID_ARGUMENT");
    assert_eq!(post(addr, &tx("commit"), &json!({})).send().await.ok(), json!({}));
    let after = sql(addr, "app", "query", json!({"sql": "SELECT balance FROM acct ORDER BY id"})).await.ok();
    assert_eq!(after["rows"], json!([[90], [10]]));
    // A second commit: the transaction is over.
    let again = post(addr, &tx("commit"), &json!({})).send().await;
    assert_eq!(again.error(400)["code"], "FAILED_PRECONDITION");

    // Rollback keeps nothing.
    let id = post(addr, "/v1/databases/app/transactions", &json!({})).send().await.ok()["transaction_id"].as_str().unwrap().to_string();
    post(addr, &format!("/v1/databases/app/transactions/{id}/execute"), &json!({"sql": "DELETE FROM acct"})).send().await.ok();
    post(addr, &format!("/v1/databases/app/transactions/{id}/rollback"), &json!({})).send().await.ok();
    let kept = sql(addr, "app", "query", json!({"sql": "SELECT count(*) FROM acct"})).await.ok();
    assert_eq!(kept["rows"], json!([[2]]));

    // Read-only: one snapshot, writes refused.
    let id = post(addr, "/v1/databases/app/transactions", &json!({"read_only": true})).send().await.ok()["transaction_id"].as_str().unwrap().to_string();
    let write = post(addr, &format!("/v1/databases/app/transactions/{id}/execute"), &json!({"sql": "DELETE FROM acct"})).send().await;
    assert_eq!(write.error(400)["code"], "FAILED_PRECONDITION");
    // Unknown ids and bad begin bodies.
    let unknown = post(addr, "/v1/databases/app/transactions/nope/query", &json!({"sql": "SELECT 1"})).send().await;
    assert_eq!(unknown.error(404)["reason"], "TRANSACTION_NOT_FOUND");
    let bad = post(addr, "/v1/databases/app/transactions", &json!({"mode": "eventually"})).send().await;
    assert_eq!(bad.error(400)["fields"][0]["field"], "mode");
    let bad = post(addr, "/v1/databases/app/transactions", &json!({"lease_ms": -1})).send().await;
    assert_eq!(bad.error(400)["fields"][0]["field"], "lease_ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_transaction_expires_with_its_lease() {
    let (_server, addr) = start(&[]);
    sql(addr, "app", "execute", json!({"sql": "CREATE TABLE t (x)"})).await.ok();
    let begun = post(addr, "/v1/databases/app/transactions", &json!({"lease_ms": 300})).send().await.ok();
    assert_eq!(begun["lease_ms"], 300);
    let id = begun["transaction_id"].as_str().unwrap().to_string();
    post(addr, &format!("/v1/databases/app/transactions/{id}/execute"), &json!({"sql": "INSERT INTO t VALUES ('abandoned')"})).send().await.ok();
    // This write queues behind the transaction and gets through once its lease runs out.
    sql(addr, "app", "execute", json!({"sql": "INSERT INTO t VALUES ('after')"})).await.ok();
    let late = post(addr, &format!("/v1/databases/app/transactions/{id}/commit"), &json!({})).send().await;
    let error = late.error(409);
    assert_eq!(error["code"], "ABORTED");
    assert!(error["message"].as_str().unwrap().contains("expired"), "{error}");
    let rows = sql(addr, "app", "query", json!({"sql": "SELECT x FROM t"})).await.ok();
    assert_eq!(rows["rows"], json!([["after"]]));
}
