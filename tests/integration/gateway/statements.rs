//! Exposed statements over HTTP: GET for reads, POST for writes, query-string text under
//! each parameter's coerce rule, every violation at once, exposed-only databases.

use std::path::Path;

use serde_json::{Value as Json, json};

use super::{get, post, sql};
use crate::harness::Server;

pub const STATEMENTS: &str = r#"
[databases.app.statements.add_user]
description = "Adds a user."
sql = "INSERT INTO users (name, age, plan) VALUES (:name, :age, :plan) RETURNING id"
writes = true
params.name = { type = "text", min_length = 2, max_length = 8, regex = "[a-z]+", description = "Lower-case login." }
params.age = { type = "integer", min = 0, max = 150, coerce = true }
params.plan = { type = "text", one_of = ["free", "pro"], default = "free" }

[databases.app.statements.older_than]
description = "Users older than an age."
sql = "SELECT name, age FROM users WHERE age > :age ORDER BY name"
params.age = { type = "integer", coerce = true, min = 0 }

[databases.app.statements.by_score]
sql = "SELECT name FROM users WHERE age = :age"
params.age = { type = "integer" }

[databases.locked]
exposed_only = true

[databases.locked.statements.count]
sql = "SELECT count(*) FROM t"
"#;

/// A server with `statements` over a data directory holding `app` and `locked`.
pub fn start(dir: &Path, statements: &str) -> (Server, std::net::SocketAddr) {
    let app = rusqlite::Connection::open(dir.join("app.db")).unwrap();
    app.execute_batch("CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, plan TEXT)")
        .unwrap();
    let locked = rusqlite::Connection::open(dir.join("locked.db")).unwrap();
    locked.execute_batch("CREATE TABLE IF NOT EXISTS t (x)").unwrap();
    let file = dir.join("statements.toml");
    std::fs::write(&file, statements).unwrap();
    let server = Server::start_in(
        dir,
        &["--statements", file.to_str().unwrap(), "--http-listen", "127.0.0.1:0"],
    );
    let addr = server.http_addr();
    (server, addr)
}

fn fields(error: &Json) -> Vec<String> {
    error["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposed_statements_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr) = start(dir.path(), STATEMENTS);
    let call = |name: &str| format!("/v1/databases/app/call/{name}");

    // A writing statement: POST, arguments in a JSON body (or the query string).
    let added = post(addr, &call("add_user"), &json!({"name": "ann", "age": 42})).send().await.ok();
    assert_eq!(added["rows"], json!([[1]]));
    let added = post(addr, &format!("{}?name=bob&age=%2030&plan=pro", call("add_user")), &json!({}))
        .send()
        .await
        .ok();
    assert_eq!(added["rows"], json!([[2]]));
    let stored = sql(addr, "app", "query", json!({"sql": "SELECT name, age, plan FROM users ORDER BY id"})).await.ok();
    assert_eq!(stored["rows"], json!([["ann", 42, "free"], ["bob", 30, "pro"]]));
    // GET is for statements that read.
    let get_write = get(addr, &format!("{}?name=cy&age=1", call("add_user"))).send().await;
    assert_eq!(get_write.error(405)["code"], "FAILED_PRECONDITION");
    assert_eq!(get_write.headers["allow"], "POST");

    // A reading one by GET: query-string text, converted where coerce allows it.
    let older = get(addr, &format!("{}?age=35", call("older_than"))).send().await.ok();
    assert_eq!(older["rows"], json!([["ann", 42]]));
    assert_eq!(older["columns"][0]["name"], "name");
    let older = get(addr, &format!("{}?age=18", call("older_than")))
        .header("accept", "application/x-ndjson")
        .send()
        .await;
    assert_eq!(older.status, 200);
    assert_eq!(String::from_utf8_lossy(&older.body).lines().count(), 4);
    // Without coerce, text is not an integer, as over gRPC; a JSON number by POST is.
    let strict = get(addr, &format!("{}?age=42", call("by_score"))).send().await;
    let error = strict.error(400);
    assert_eq!(fields(&error), ["args.age"]);
    assert!(error["fields"][0]["description"].as_str().unwrap().contains("text is not converted"), "{error}");
    let strict = post(addr, &call("by_score"), &json!({"age": 42})).send().await.ok();
    assert_eq!(strict["rows"], json!([["ann"]]));

    // Every violation at once, each naming its argument.
    let wrong = post(addr, &format!("{}?age=1.23", call("add_user")), &json!({"name": "X", "plan": "gold", "color": "red"})).send().await;
    let error = wrong.error(400);
    assert_eq!(error["code"], "INVALID_ARGUMENT");
    let mut at_fault = fields(&error);
    at_fault.sort();
    assert_eq!(at_fault, ["args.age", "args.color", "args.name", "args.plan"], "{error}");
    let spam = get(addr, &format!("{}?age=spam", call("older_than"))).send().await;
    assert!(spam.error(400)["fields"][0]["description"].as_str().unwrap().contains("\"spam\""));
    let twice = get(addr, &format!("{}?age=1&age=2", call("older_than"))).send().await;
    assert_eq!(fields(&twice.error(400)), ["args.age"]);
    let both = post(addr, &format!("{}?age=1", call("add_user")), &json!({"name": "cy", "age": 2})).send().await;
    assert_eq!(fields(&both.error(400)), ["args.age"]);
    let unknown = get(addr, &call("nothing")).send().await;
    assert_eq!(unknown.error(404)["reason"], "STATEMENT_NOT_FOUND");

    // Inside a transaction.
    let id = post(addr, "/v1/databases/app/transactions", &json!({})).send().await.ok()["transaction_id"].as_str().unwrap().to_string();
    post(addr, &format!("/v1/databases/app/transactions/{id}/call/add_user"), &json!({"name": "dee", "age": 50})).send().await.ok();
    let inside = get(addr, &format!("/v1/databases/app/transactions/{id}/call/older_than?age=45")).send().await.ok();
    assert_eq!(inside["rows"], json!([["dee", 50]]));
    post(addr, &format!("/v1/databases/app/transactions/{id}/rollback"), &json!({})).send().await.ok();
    let outside = get(addr, &format!("{}?age=45", call("older_than"))).send().await.ok();
    assert_eq!(outside["rows"], json!([]));

    // ListStatements as JSON.
    let listed = get(addr, "/v1/databases/app/statements").send().await.ok();
    let names: Vec<&str> = listed["statements"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["add_user", "by_score", "older_than"]);
    let add = &listed["statements"][0];
    assert_eq!(add["writes"], true);
    let age = add["params"].as_array().unwrap().iter().find(|p| p["name"] == "age").unwrap();
    assert_eq!(age["type"], "integer");
    assert_eq!(age["coerce"], true);
    assert_eq!(age["max"], 150.0);
    let all = get(addr, "/v1/statements").send().await.ok();
    assert_eq!(all["statements"].as_array().unwrap().len(), 4);

    // An exposed-only database serves its statements and nothing else, over HTTP too.
    let counted = get(addr, "/v1/databases/locked/call/count").send().await.ok();
    assert_eq!(counted["rows"], json!([[0]]));
    for what in ["query", "execute"] {
        let refused = sql(addr, "locked", what, json!({"sql": "SELECT count(*) FROM t"})).await;
        assert_eq!(refused.error(403)["code"], "PERMISSION_DENIED");
    }
    let refused = sql(addr, "locked", "batch", json!({"statements": [{"sql": "DELETE FROM t"}]})).await;
    assert_eq!(refused.error(403)["code"], "PERMISSION_DENIED");
    let id = post(addr, "/v1/databases/locked/transactions", &json!({"read_only": true})).send().await.ok()["transaction_id"].as_str().unwrap().to_string();
    let refused = post(addr, &format!("/v1/databases/locked/transactions/{id}/query"), &json!({"sql": "SELECT 1"})).send().await;
    assert_eq!(refused.error(403)["code"], "PERMISSION_DENIED");
}
