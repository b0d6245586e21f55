//! Tokens, roles and browsers over HTTP: the same credentials file as gRPC.

use serde_json::json;

use super::{get, post};
use crate::harness::Server;
use crate::security::{ADMIN, READER, WRITER, credentials};

fn auth_server(args: &[&str]) -> (Server, std::net::SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = credentials(dir.path(), "");
    let mut all = vec!["--credentials", file.to_str().unwrap(), "--http-listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let server = Server::start_with(&all);
    let addr = server.http_addr();
    (server, addr, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_roles_hold_over_http() {
    let (server, addr, _dir) = auth_server(&[]);
    let execute = |sql: &str| post(addr, "/v1/databases/app/execute", &json!({"sql": sql}));
    let query = |sql: &str| post(addr, "/v1/databases/app/query", &json!({"sql": sql}));

    // No token, a wrong one, a malformed header: 401 with a challenge.
    let none = execute("CREATE TABLE t (x)").send().await;
    assert_eq!(none.error(401)["code"], "UNAUTHENTICATED");
    assert_eq!(none.headers["www-authenticate"], "Bearer realm=\"sqlited\"");
    assert!(none.headers.contains_key("x-request-id"));
    let wrong = execute("CREATE TABLE t (x)").token("sqlited_guess").send().await;
    assert_eq!(wrong.error(401)["code"], "UNAUTHENTICATED");
    let spec = get(addr, "/v1/openapi.json").send().await;
    assert_eq!(spec.error(401)["code"], "UNAUTHENTICATED");

    // The writer may not create the database nor change the schema; the admin may.
    let denied = execute("CREATE TABLE t (x)").token(WRITER).send().await;
    assert_eq!(denied.error(403)["code"], "PERMISSION_DENIED");
    execute("CREATE TABLE t (x)").token(ADMIN).send().await.ok();
    let schema = execute("CREATE TABLE u (x)").token(WRITER).send().await;
    assert_eq!(schema.error(403)["code"], "PERMISSION_DENIED");
    execute("INSERT INTO t VALUES (1)").token(WRITER).send().await.ok();

    // The reader reads, and writes by no route: execute, a writing query, a batch, a write
    // transaction.
    assert_eq!(query("SELECT x FROM t").token(READER).send().await.ok()["rows"], json!([[1]]));
    for refused in [
        execute("INSERT INTO t VALUES (2)").token(READER).send().await,
        query("INSERT INTO t VALUES (2) RETURNING x").token(READER).send().await,
        post(addr, "/v1/databases/app/batch", &json!({"statements": [{"sql": "DELETE FROM t"}]}))
            .token(READER)
            .send()
            .await,
        post(addr, "/v1/databases/app/transactions", &json!({}))
            .token(READER)
            .send()
            .await,
    ] {
        assert_eq!(refused.error(403)["code"], "PERMISSION_DENIED");
    }
    // A read-only transaction is the reader's; another token cannot see it.
    let tx = post(addr, "/v1/databases/app/transactions", &json!({"read_only": true}))
        .token(READER)
        .send()
        .await
        .ok();
    let id = tx["transaction_id"].as_str().unwrap();
    let other = post(addr, &format!("/v1/databases/app/transactions/{id}/query"), &json!({"sql": "SELECT 1"}))
        .token(WRITER)
        .send()
        .await;
    assert_eq!(other.error(404)["reason"], "TRANSACTION_NOT_FOUND");
    post(addr, &format!("/v1/databases/app/transactions/{id}/commit"), &json!({}))
        .token(READER)
        .send()
        .await
        .ok();
    assert_eq!(query("SELECT count(*) FROM t").token(READER).send().await.ok()["rows"], json!([[1]]));
    // The log names refusals, never a token.
    assert!(!server.log().contains("sqlited_guess"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_need_a_listed_origin() {
    // Off by default: any request from a web page is refused before it runs.
    let (_server, addr) = super::start(&[]);
    let refused = post(addr, "/v1/databases/app/execute", &json!({"sql": "CREATE TABLE t (x)"}))
        .header("origin", "https://evil.example")
        .send()
        .await;
    assert_eq!(refused.error(403)["code"], "PERMISSION_DENIED");
    assert!(!refused.headers.contains_key("access-control-allow-origin"));
    let nothing = post(addr, "/v1/databases/app/query", &json!({"sql": "SELECT count(*) FROM sqlite_schema"}))
        .send()
        .await;
    assert_eq!(nothing.error(404)["reason"], "DATABASE_NOT_FOUND", "the refused request created the database");

    let (_server, addr, _dir) = auth_server(&["--http-cors-origins", "https://app.example,http://localhost:8080"]);
    let preflight = get(addr, "/v1/databases/app/query")
        .method("OPTIONS")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.headers["access-control-allow-origin"], "https://app.example");
    assert!(preflight.headers["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    assert!(!preflight.headers.contains_key("access-control-allow-credentials"));
    let call = post(addr, "/v1/databases/app/execute", &json!({"sql": "CREATE TABLE t (x)"}))
        .header("origin", "https://app.example")
        .token(ADMIN)
        .send()
        .await;
    assert_eq!(call.status, 200, "{:?}", call.body);
    assert_eq!(call.headers["access-control-allow-origin"], "https://app.example");
    assert!(call.headers["access-control-expose-headers"].to_str().unwrap().contains("x-request-id"));
    let other = get(addr, "/v1/openapi.json")
        .header("origin", "https://other.example")
        .token(ADMIN)
        .send()
        .await;
    assert_eq!(other.error(403)["code"], "PERMISSION_DENIED");

    // `*`: any origin, answered `*`, and never with credentials.
    let (_server, addr) = super::start(&["--http-cors-origins", "*"]);
    let any = post(addr, "/v1/databases/app/execute", &json!({"sql": "CREATE TABLE t (x)"}))
        .header("origin", "https://anyone.example")
        .send()
        .await;
    assert_eq!(any.status, 200);
    assert_eq!(any.headers["access-control-allow-origin"], "*");
    assert!(!any.headers.contains_key("access-control-allow-credentials"));
}
