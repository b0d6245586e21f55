//! query, execute, batch: results, errors with their statuses, request ids, deadlines,
//! metrics, unknown endpoints.

use serde_json::json;

use super::{get, post, sql, start};
use crate::harness::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_execute_and_batch_answer_json() {
    let (_server, addr) = start(&[]);
    let created = sql(addr, "app", "execute", json!({"sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)"})).await;
    assert_eq!(
        created.ok(),
        json!({"columns": [], "rows": [], "rows_affected": 0, "last_insert_rowid": 0})
    );
    let inserted = sql(addr, "app", "execute", json!({"sql": "INSERT INTO t (name) VALUES (?), (?)", "params": ["ann", "bob"]})).await.ok();
    assert_eq!(inserted["rows_affected"], 2);
    assert_eq!(inserted["last_insert_rowid"], 2);
    let named = sql(addr, "app", "execute", json!({"sql": "INSERT INTO t (name) VALUES (:name)", "params": {"name": "cy"}})).await.ok();
    assert_eq!(named["last_insert_rowid"], 3);

    let rows = sql(addr, "app", "query", json!({"sql": "SELECT id, name, length(name) AS n FROM t WHERE id >= ?1 ORDER BY id", "params": [2]})).await.ok();
    assert_eq!(
        rows["columns"],
        json!([{"name": "id", "decl_type": "INTEGER"}, {"name": "name", "decl_type": "TEXT"}, {"name": "n", "decl_type": ""}])
    );
    assert_eq!(rows["rows"], json!([[2, "bob", 3], [3, "cy", 2]]));

    // A writing statement through query commits and returns its rows.
    let returning = sql(addr, "app", "query", json!({"sql": "INSERT INTO t (name) VALUES ('dee') RETURNING id"})).await.ok();
    assert_eq!(returning["rows"], json!([[4]]));
    assert_eq!(returning["rows_affected"], 1);

    // A batch is all or nothing: the failing statement is named, nothing of it is kept.
    let failed = sql(addr, "app", "batch", json!({"statements": [
        {"sql": "INSERT INTO t (name) VALUES ('eve')"},
        {"sql": "INSERT INTO t (name) VALUES (?)", "params": ["ann"]},
    ]})).await;
    let error = failed.error(409);
    assert_eq!(error["code"], "ALREADY_EXISTS");
    assert_eq!(error["reason"], "SQLITE_CONSTRAINT_UNIQUE");
    assert_eq!(error["sqlite_code"], 2067);
    assert_eq!(error["fields"][0]["field"], "statements[1]", "{error}");
    let batch = sql(addr, "app", "batch", json!({"statements": [
        {"sql": "INSERT INTO t (name) VALUES ('eve')"},
        {"sql": "DELETE FROM t WHERE name = ?", "params": ["ann"]},
    ]})).await.ok();
    assert_eq!(batch["results"][0]["rows_affected"], 1);
    assert_eq!(batch["results"][1]["rows_affected"], 1);
    let names = sql(addr, "app", "query", json!({"sql": "SELECT group_concat(name, ',') FROM (SELECT name FROM t ORDER BY id)"})).await.ok();
    assert_eq!(names["rows"], json!([["bob,cy,dee,eve"]]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_code_reason_fields_and_request_id() {
    let (_server, addr) = start(&[]);
    let syntax = sql(addr, "app", "execute", json!({"sql": "CREATE TABLES t (x)"})).await;
    let error = syntax.error(400);
    assert_eq!(error["code"], "INVALID_ARGUMENT");
    assert_eq!(error["reason"], "SQLITE_ERROR");
    assert_eq!(error["sqlite_code"], 1);
    assert_eq!(error["fields"][0]["field"], "sql");
    assert_eq!(error["retryable"], false);
    // The request id is on every answer, and in the error body.
    let id = syntax.headers["x-request-id"].to_str().unwrap();
    assert_eq!(error["request_id"], id);
    let mine = post(addr, "/v1/databases/app/query", &json!({"sql": "SELECT 1"}))
        .header("x-request-id", "my-id.42")
        .send()
        .await;
    assert_eq!(mine.headers["x-request-id"], "my-id.42");
    assert_eq!(mine.ok()["rows"], json!([[1]]));

    // A read of a database that does not exist creates nothing.
    let missing = sql(addr, "nowhere", "query", json!({"sql": "SELECT 1"})).await;
    assert_eq!(missing.error(404)["reason"], "DATABASE_NOT_FOUND");
    let bad_name = sql(addr, "-rf", "query", json!({"sql": "SELECT 1"})).await;
    assert_eq!(bad_name.error(400)["fields"][0]["field"], "database");

    // Bodies that are not what the endpoint takes: 400 naming the field.
    for (body, field) in [
        (&b"{\"sql\": "[..], "body"),
        (&b"[1, 2]"[..], "body"),
        (&br#"{"sql": 5}"#[..], "sql"),
        (&br#"{"sql": "SELECT ?", "params": [[1]]}"#[..], "params[0]"),
        (&br#"{"sql": "SELECT ?", "params": [18446744073709551615]}"#[..], "params[0]"),
        (&br#"{"sql": "SELECT 1", "parms": []}"#[..], "parms"),
        (&br#"{"sql": "SELECT ?", "params": [{"type": "blob", "base64": "***"}]}"#[..], "params[0].base64"),
        (&[0xff, 0xfe][..], "body"),
    ] {
        let reply = post(addr, "/v1/databases/app/query", &json!(null))
            .raw_body(body.to_vec())
            .send()
            .await;
        let error = reply.error(400);
        assert_eq!(error["fields"][0]["field"], field, "{error}");
    }
    let wrong_count = sql(addr, "app", "query", json!({"sql": "SELECT ?, ?", "params": [1]})).await;
    assert_eq!(wrong_count.error(400)["fields"][0]["field"], "params");

    let bad_path = post(addr, "/v1/databases/%FF/query", &json!({"sql": "SELECT 1"}))
        .send()
        .await;
    assert_eq!(bad_path.error(400)["fields"][0]["field"], "path");

    // Unknown endpoints and methods.
    let nothing = get(addr, "/v1/nothing").send().await;
    assert_eq!(nothing.error(404)["reason"], "NO_SUCH_ENDPOINT");
    let wrong = get(addr, "/v1/databases/app/execute").send().await;
    assert_eq!(wrong.error(405)["reason"], "METHOD_NOT_ALLOWED");
    assert!(wrong.headers.contains_key("x-request-id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_header_stops_a_long_statement() {
    let (server, addr) = start(&[]);
    server.ensure_database("app");
    let long = json!({"sql": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"});
    let stopped = post(addr, "/v1/databases/app/query", &long)
        .header("x-request-timeout-ms", "300")
        .send()
        .await;
    let error = stopped.error(504);
    assert_eq!(error["code"], "DEADLINE_EXCEEDED", "{error}");
    let bad = post(addr, "/v1/databases/app/query", &json!({"sql": "SELECT 1"}))
        .header("x-request-timeout-ms", "soon")
        .send()
        .await;
    assert_eq!(bad.error(400)["fields"][0]["field"], "x-request-timeout-ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_requests_are_in_the_metrics() {
    let server = crate::harness::Server::start_with(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
    ]);
    let metrics = server.metrics_addr();
    let addr = server.http_addr();
    sql(addr, "app", "execute", json!({"sql": "CREATE TABLE t (x)"})).await.ok();
    sql(addr, "app", "query", json!({"sql": "SELEC"})).await.error(400);
    post(addr, "/v1/databases/app/query", &json!({"sql": "SELECT 1"}))
        .header("accept", "application/x-ndjson")
        .send()
        .await;
    let count = |rpc: &str, code: &str| {
        crate::metrics::sample(
            metrics,
            "sqlited_requests_total",
            &["service=\"http\"", &format!("rpc=\"{rpc}\""), &format!("code=\"{code}\"")],
        )
    };
    assert_eq!(count("Execute", "OK"), Some(1.0));
    assert_eq!(count("Query", "INVALID_ARGUMENT"), Some(1.0));
    // The stream is counted when it ends, just after its last line is sent.
    let bound = std::time::Duration::from_secs(10);
    eventually(bound, "the NDJSON query counted", || {
        std::future::ready(match count("Query", "OK") {
            Some(1.0) => Ok(()),
            other => Err(format!("{other:?}")),
        })
    })
    .await;
}
