//! The server's bounds over HTTP: body size, parameter count, result size.

use serde_json::json;

use super::{post, sql, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_params_and_results_are_bounded() {
    let (_server, addr) = start(&["--max-message-bytes", "65536", "--max-params", "8"]);
    sql(addr, "app", "execute", json!({"sql": "CREATE TABLE t (x)"})).await.ok();

    // A body past --max-message-bytes, with its length declared and streamed without one.
    let big = json!({"sql": "INSERT INTO t VALUES (?)", "params": ["x".repeat(70_000)]});
    let refused = sql(addr, "app", "execute", big.clone()).await;
    let error = refused.error(413);
    assert_eq!(error["code"], "RESOURCE_EXHAUSTED");
    assert!(error["message"].as_str().unwrap().contains("--max-message-bytes"), "{error}");
    assert_eq!(error["retryable"], false);
    let chunked = post(addr, "/v1/databases/app/execute", &big)
        .header("transfer-encoding", "chunked")
        .send()
        .await;
    assert_eq!(chunked.error(413)["code"], "RESOURCE_EXHAUSTED");

    // Too many parameter values: the statement's params are named.
    let params: Vec<i64> = (0..9).collect();
    let many = sql(addr, "app", "query", json!({"sql": "SELECT 1", "params": params})).await;
    let error = many.error(400);
    assert_eq!(error["fields"][0]["field"], "params");
    assert!(error["message"].as_str().unwrap().contains("--max-params"), "{error}");

    // A result too large for one JSON answer says to stream it; streamed, it comes whole.
    let rows = json!({"sql": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000) SELECT x, printf('%050d', x) FROM c"});
    let whole = sql(addr, "app", "query", rows.clone()).await;
    let error = whole.error(429);
    assert_eq!(error["code"], "RESOURCE_EXHAUSTED");
    assert!(error["message"].as_str().unwrap().contains("application/x-ndjson"), "{error}");
    let streamed = post(addr, "/v1/databases/app/query", &rows)
        .header("accept", "application/x-ndjson")
        .send()
        .await;
    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.headers["content-type"], "application/x-ndjson");
    let text = String::from_utf8(streamed.body.to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2000 + 2);
    assert_eq!(lines[1], format!("{{\"row\":[1,\"{:050}\"]}}", 1));
    assert_eq!(
        lines[2001],
        r#"{"done":{"rows":2000,"rows_affected":0,"last_insert_rowid":0}}"#
    );
}
