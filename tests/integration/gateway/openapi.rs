//! The OpenAPI document: every endpoint, each exposed statement a typed operation of its own,
//! reloaded with the statements file. (CI also validates it with openapi-spec-validator:
//! tests/openapi/validate.py.)

use serde_json::json;

use super::statements::{STATEMENTS, start};
use super::{get, post};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_describes_every_endpoint_and_statement() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr) = start(dir.path(), STATEMENTS);
    let doc = get(addr, "/v1/openapi.json").send().await.ok();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/databases/{db}/query", "post"),
        ("/v1/databases/{db}/query", "get"),
        ("/v1/databases", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/v1/databases/{db}/execute", "post"),
        ("/v1/databases/{db}/batch", "post"),
        ("/v1/databases/{db}/transactions", "post"),
        ("/v1/databases/{db}/transactions/{tx}/query", "post"),
        ("/v1/databases/{db}/transactions/{tx}/execute", "post"),
        ("/v1/databases/{db}/transactions/{tx}/batch", "post"),
        ("/v1/databases/{db}/transactions/{tx}/commit", "post"),
        ("/v1/databases/{db}/transactions/{tx}/rollback", "post"),
        ("/v1/databases/{db}/transactions/{tx}/call/{name}", "get"),
        ("/v1/databases/{db}/call/{name}", "get"),
        ("/v1/databases/{db}/call/{name}", "post"),
        ("/v1/databases/{db}/statements", "get"),
        ("/v1/statements", "get"),
        ("/v1/statements/reload", "post"),
        ("/v1/openapi.json", "get"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path}");
    }

    // A writing statement: POST only, a body schema with its types and checks.
    let add = &paths["/v1/databases/app/call/add_user"];
    assert!(add.get("get").is_none());
    assert_eq!(add["post"]["operationId"], "app_add_user");
    assert_eq!(add["post"]["summary"], "Adds a user.");
    let body = &add["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["required"], json!(["age", "name"]));
    assert_eq!(body["additionalProperties"], false);
    let name = &body["properties"]["name"];
    assert_eq!(name["type"], "string");
    assert_eq!(name["minLength"], 2);
    assert_eq!(name["maxLength"], 8);
    assert_eq!(name["pattern"], "^(?:[a-z]+)$");
    assert_eq!(name["description"], "Lower-case login.");
    let age = &body["properties"]["age"];
    assert_eq!(age["type"], "integer");
    assert_eq!(age["minimum"], 0.0);
    assert_eq!(age["maximum"], 150.0);
    let plan = &body["properties"]["plan"];
    assert_eq!(plan["enum"], json!(["free", "pro"]));
    assert_eq!(plan["default"], "free");

    // A reading one whose parameters can be text: GET with query parameters, and POST.
    let older = &paths["/v1/databases/app/call/older_than"];
    assert_eq!(older["get"]["operationId"], "app_older_than");
    let param = &older["get"]["parameters"][0];
    assert_eq!(param["name"], "age");
    assert_eq!(param["in"], "query");
    assert_eq!(param["required"], true);
    assert_eq!(param["schema"]["type"], "integer");
    assert_eq!(older["post"]["operationId"], "app_older_than_post");
    // Without coerce its integer cannot come as query-string text: POST only.
    let strict = &paths["/v1/databases/app/call/by_score"];
    assert!(strict.get("get").is_none());
    assert!(strict.get("post").is_some());
    // Operation ids are unique.
    let mut ids: Vec<&str> = paths
        .values()
        .flat_map(|p| p.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count);

    // Reloaded with the statements file.
    let changed = STATEMENTS.replace("older_than", "younger_than");
    std::fs::write(dir.path().join("statements.toml"), changed).unwrap();
    let reloaded = post(addr, "/v1/statements/reload", &json!({})).send().await.ok();
    assert_eq!(reloaded["statements"], 4);
    let doc = get(addr, "/v1/openapi.json").send().await.ok();
    assert!(doc["paths"].get("/v1/databases/app/call/older_than").is_none());
    assert!(doc["paths"].get("/v1/databases/app/call/younger_than").is_some());
}
