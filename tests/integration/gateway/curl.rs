//! The README's walk-through with curl itself: create a table, insert, query, a
//! transaction, an exposed statement, an error.

use std::process::Command;

use serde_json::{Value as Json, json};

/// Runs curl with `args` against `base`; its HTTP status and body.
fn curl(base: &str, args: &[&str]) -> (u16, String) {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-w", "\n%{http_code}"])
        .args(args.iter().map(|a| a.replace("$HTTP", base)))
        .output()
        .expect("curl is installed (.ci/run installs it)");
    assert!(output.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_string())
}

fn ok(base: &str, args: &[&str]) -> Json {
    let (status, body) = curl(base, args);
    assert_eq!(status, 200, "{args:?}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walk_through_with_curl() {
    let dir = tempfile::tempdir().unwrap();
    let statements = r#"
[databases.app.statements.user_by_name]
sql = "SELECT id, name, age FROM users WHERE name = :name"
params.name = { type = "text", min_length = 1 }

[databases.app.statements.add_user]
sql = "INSERT INTO users (name, age) VALUES (:name, :age)"
writes = true
params.name = { type = "text", min_length = 1, max_length = 64 }
params.age = { type = "integer", min = 0, max = 150, coerce = true }
"#;
    // The statements are checked against the database at start: it must exist.
    let app = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    app.execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER)")
        .unwrap();
    drop(app);
    let file = dir.path().join("statements.toml");
    std::fs::write(&file, statements).unwrap();
    let server = crate::harness::Server::start_in(
        dir.path(),
        &["--statements", file.to_str().unwrap(), "--http-listen", "127.0.0.1:0"],
    );
    let base = format!("http://{}", server.http_addr());
    let db = "$HTTP/v1/databases/app";

    ok(&base, &["-X", "POST", &format!("{db}/execute"), "-d", r#"{"sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, data BLOB)"}"#]);
    let inserted = ok(&base, &["-X", "POST", &format!("{db}/execute"), "-d",
        r#"{"sql": "INSERT INTO notes (body, data) VALUES (?, ?)", "params": ["hello", {"type": "blob", "base64": "AAEC"}]}"#]);
    assert_eq!(inserted["last_insert_rowid"], 1);
    let rows = ok(&base, &["-X", "POST", &format!("{db}/query"), "-d", r#"{"sql": "SELECT * FROM notes WHERE id = :id", "params": {"id": 1}}"#]);
    assert_eq!(rows["rows"], json!([[1, "hello", {"type": "blob", "base64": "AAEC"}]]));
    let (status, stream) = curl(&base, &["-X", "POST", &format!("{db}/query"), "-H", "Accept: application/x-ndjson", "-d", r#"{"sql": "SELECT id, body FROM notes"}"#]);
    assert_eq!(status, 200);
    assert_eq!(stream.lines().nth(1), Some(r#"{"row":[1,"hello"]}"#));

    // A transaction.
    let tx = ok(&base, &["-X", "POST", &format!("{db}/transactions")]);
    let id = tx["transaction_id"].as_str().unwrap();
    ok(&base, &["-X", "POST", &format!("{db}/transactions/{id}/execute"), "-d", r#"{"sql": "UPDATE notes SET body = 'changed'"}"#]);
    ok(&base, &["-X", "POST", &format!("{db}/transactions/{id}/commit")]);
    let changed = ok(&base, &["-X", "POST", &format!("{db}/query"), "-d", r#"{"sql": "SELECT body FROM notes"}"#]);
    assert_eq!(changed["rows"], json!([["changed"]]));

    // Exposed statements: POST writes, GET reads, --get --data-urlencode builds the query.
    ok(&base, &["-X", "POST", &format!("{db}/call/add_user?name=ann&age=42")]);
    let found = ok(&base, &["--get", &format!("{db}/call/user_by_name"), "--data-urlencode", "name=ann"]);
    assert_eq!(found["rows"], json!([[1, "ann", 42]]));
    let (status, body) = curl(&base, &["-X", "POST", &format!("{db}/call/add_user?name=&age=spam")]);
    assert_eq!(status, 400);
    let error: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["fields"].as_array().unwrap().len(), 2, "{error}");

    // The OpenAPI document.
    let doc = ok(&base, &["$HTTP/v1/openapi.json"]);
    assert!(doc["paths"]["/v1/databases/app/call/add_user"]["post"].is_object());
    drop(server);
}
