//! The OpenAPI 3.1 document of `GET /v1/openapi.json`, built from the code on every request:
//! the fixed endpoints, and one operation per exposed statement of the statements file in
//! force (so a reload shows at once), with each parameter's type, bounds, pattern, allowed
//! values, default and description. With auth on it lists the databases the token reaches.

use std::collections::HashSet;

use serde_json::{Map, Value as Json, json};
use sqlited_proto::v1::ExposedStatement;

use super::values::to_json;
use crate::auth::Principal;
use crate::statements::{Catalog, Exposed, Kind, Param};

/// A statement of ListStatements as JSON.
pub fn statement_json(s: &ExposedStatement) -> Json {
    json!({
        "database": s.database,
        "name": s.name,
        "sql": s.sql,
        "writes": s.writes,
        "description": s.description,
        "exposed_only": s.exposed_only,
        "unavailable": s.unavailable,
        "params": s.params.iter().map(|p| json!({
            "name": p.name,
            "type": p.r#type,
            "nullable": p.nullable,
            "default": p.default.as_ref().map(to_json),
            "coerce": p.coerce,
            "min": p.min,
            "max": p.max,
            "min_length": p.min_length,
            "max_length": p.max_length,
            "regex": p.regex,
            "one_of": p.one_of.iter().map(to_json).collect::<Vec<_>>(),
            "description": p.description,
        })).collect::<Vec<_>>(),
    })
}

fn schema(name: &str) -> Json {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn parameter(name: &str) -> Json {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

/// The answers every operation may give besides its success.
fn errors() -> Json {
    json!({
        "default": {
            "description": "An error: the gRPC code's HTTP status (400, 401, 403, 404, 409, 413, 429, 499, 500, 503, 504, …) and its JSON body; 405 (reason METHOD_NOT_ALLOWED, with an Allow header) for a method the path does not answer; 406 when the Accept header excludes every format the endpoint produces.",
            "content": {"application/json": {"schema": schema("Error")}}
        }
    })
}

fn ok(description: &str, body: Json) -> Json {
    let mut responses = errors();
    responses["200"] = json!({
        "description": description,
        "content": {"application/json": {"schema": body}}
    });
    responses
}

/// The answers of an operation returning rows.
fn rows_ok() -> Json {
    let mut responses = ok("The result.", schema("Result"));
    responses["200"]["content"]["application/x-ndjson"] = json!({"schema": schema("NdjsonLine")});
    responses["200"]["content"]["text/csv"] = json!({"schema": {"type": "string",
        "description": "With `Accept: text/csv`: RFC 4180, a header row of the column names, CRLF line ends; NULL is an empty field, a BLOB standard base64, a REAL as in JSON (Inf, -Inf as SQLite prints them)."}});
    responses
}

fn json_body(body: Json, required: bool) -> Json {
    json!({"required": required, "content": {"application/json": {"schema": body}}})
}

fn operation(
    id: &str,
    summary: &str,
    params: &[&str],
    body: Option<Json>,
    responses: Json,
) -> Json {
    let mut parameters: Vec<Json> = params.iter().map(|p| parameter(p)).collect();
    parameters.push(parameter("RequestTimeout"));
    parameters.push(parameter("RequestId"));
    let mut op = json!({
        "operationId": id,
        "summary": summary,
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(body) = body {
        op["requestBody"] = body;
    }
    op
}

/// A probe's operation: no token; `ready` adds the 503 of a server not ready.
fn probe(id: &str, summary: &str, ready: bool) -> Json {
    let mut responses = json!({
        "200": {"description": "Serving.", "content": {"application/json": {"schema": schema("Probe")}}}
    });
    if ready {
        responses["503"] = json!({"description": "Not serving, and why.", "content": {"application/json": {"schema": schema("Probe")}}});
    }
    json!({"operationId": id, "summary": summary, "security": [], "responses": responses})
}

/// The fixed endpoints.
fn fixed_paths() -> Map<String, Json> {
    let statement = || Some(json_body(schema("Statement"), true));
    let batch = || Some(json_body(schema("Batch"), true));
    let batch_ok = || ok("One result per statement.", schema("BatchResult"));
    let exec_ok = || ok("What the statement changed.", schema("Result"));
    let done = || ok("Done.", json!({"type": "object"}));
    let mut paths = Map::new();
    let mut add = |path: &str, method: &str, op: Json| {
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[method] = op;
    };
    add(
        "/v1/openapi.json",
        "get",
        operation(
            "openapi",
            "This document.",
            &[],
            None,
            ok("The OpenAPI 3.1 document.", json!({"type": "object"})),
        ),
    );
    add(
        "/healthz",
        "get",
        probe(
            "healthz",
            "Liveness: the process answers (no token; never touches a database).",
            false,
        ),
    );
    add(
        "/readyz",
        "get",
        probe(
            "readyz",
            "Readiness (no token): 503 with the reasons while the server shuts down or replication is not ready (Litestream down, the store not answering or misconfigured, a database's replication failing).",
            true,
        ),
    );
    add(
        "/v1/databases",
        "get",
        operation(
            "list_databases",
            "The databases of the data directory the token holds a role on, with that role (every database, admin, without auth).",
            &[],
            None,
            ok("The databases.", schema("DatabaseList")),
        ),
    );
    add("/v1/databases/{db}/query", "get", {
        let mut op = operation(
            "query_get",
            "Runs one statement read-only and returns its rows (Query with read_only): the read role is enough; a statement that writes is refused with 405 (send it with POST). Named parameters are `:name=JSON` (or `@name`, `$name`) query parameters.",
            &["Sql", "Positional", "db"],
            None,
            rows_ok(),
        );
        op["x-named-parameters"] = json!(
            "`:name=JSON`, `@name=JSON`, `$name=JSON`: the named parameter `name`, its value JSON as in bodies."
        );
        op
    });
    add(
        "/v1/statements",
        "get",
        operation(
            "list_statements",
            "Every exposed statement the token may see (ListStatements).",
            &["DatabaseFilter"],
            None,
            ok("The statements.", schema("StatementList")),
        ),
    );
    add(
        "/v1/statements/reload",
        "post",
        operation(
            "reload_statements",
            "Reloads the statements file (ReloadStatements; admin on every database).",
            &[],
            None,
            ok(
                "How many statements are in force.",
                json!({"type": "object", "properties": {"statements": {"type": "integer"}}}),
            ),
        ),
    );
    add(
        "/v1/databases/{db}/statements",
        "get",
        operation(
            "list_database_statements",
            "The exposed statements of one database.",
            &["db"],
            None,
            ok("The statements.", schema("StatementList")),
        ),
    );
    add(
        "/v1/databases/{db}/query",
        "post",
        operation(
            "query",
            "Runs one statement and returns its rows (Query).",
            &["db"],
            statement(),
            rows_ok(),
        ),
    );
    add(
        "/v1/databases/{db}/execute",
        "post",
        operation(
            "execute",
            "Runs one statement that writes (Execute).",
            &["db"],
            statement(),
            exec_ok(),
        ),
    );
    add(
        "/v1/databases/{db}/batch",
        "post",
        operation(
            "batch",
            "Runs statements in one transaction, all or nothing (ExecuteBatch).",
            &["db"],
            batch(),
            batch_ok(),
        ),
    );
    add(
        "/v1/databases/{db}/call/{name}",
        "get",
        operation(
            "call_get",
            "Calls a reading exposed statement; arguments are query-string text, converted where the parameter's coerce allows.",
            &["db", "name"],
            None,
            rows_ok(),
        ),
    );
    add(
        "/v1/databases/{db}/call/{name}",
        "post",
        operation(
            "call_post",
            "Calls an exposed statement with arguments from a JSON object body (and the query string).",
            &["db", "name"],
            Some(json_body(
                json!({"type": "object", "additionalProperties": schema("Value")}),
                false,
            )),
            rows_ok(),
        ),
    );
    add(
        "/v1/databases/{db}/transactions",
        "post",
        operation(
            "begin",
            "Begins an interactive transaction with an idle lease (Begin).",
            &["db"],
            Some(json_body(schema("Begin"), false)),
            ok("The transaction.", schema("Transaction")),
        ),
    );
    add(
        "/v1/databases/{db}/transactions/{tx}/query",
        "post",
        operation(
            "tx_query",
            "Query inside the transaction.",
            &["db", "tx"],
            statement(),
            rows_ok(),
        ),
    );
    add(
        "/v1/databases/{db}/transactions/{tx}/execute",
        "post",
        operation(
            "tx_execute",
            "Execute inside the transaction.",
            &["db", "tx"],
            statement(),
            exec_ok(),
        ),
    );
    add(
        "/v1/databases/{db}/transactions/{tx}/batch",
        "post",
        operation(
            "tx_batch",
            "A batch inside the transaction.",
            &["db", "tx"],
            batch(),
            batch_ok(),
        ),
    );
    add(
        "/v1/databases/{db}/transactions/{tx}/commit",
        "post",
        operation(
            "commit",
            "Commits the transaction.",
            &["db", "tx"],
            None,
            done(),
        ),
    );
    add(
        "/v1/databases/{db}/transactions/{tx}/rollback",
        "post",
        operation(
            "rollback",
            "Rolls the transaction back.",
            &["db", "tx"],
            None,
            done(),
        ),
    );
    add(
        "/v1/databases/{db}/transactions/{tx}/call/{name}",
        "get",
        operation(
            "tx_call_get",
            "Calls a reading exposed statement inside the transaction.",
            &["db", "tx", "name"],
            None,
            rows_ok(),
        ),
    );
    add(
        "/v1/databases/{db}/transactions/{tx}/call/{name}",
        "post",
        operation(
            "tx_call_post",
            "Calls an exposed statement inside the transaction.",
            &["db", "tx", "name"],
            Some(json_body(
                json!({"type": "object", "additionalProperties": schema("Value")}),
                false,
            )),
            rows_ok(),
        ),
    );
    paths
}

/// The JSON Schema of one exposed statement's parameter.
fn param_schema(p: &Param) -> Json {
    let mut s = match p.kind {
        Kind::Integer => json!({"type": "integer", "format": "int64"}),
        Kind::Real => json!({"type": "number", "format": "double"}),
        Kind::Text => json!({"type": "string"}),
        Kind::Blob => json!({"allOf": [schema("TypedBlob")]}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::Timestamp { .. } => json!({"anyOf": [
            {"type": "string", "format": "date-time"},
            {"type": "integer", "description": "unix seconds"}
        ]}),
    };
    if matches!(p.kind, Kind::Integer | Kind::Real) {
        if let Some(min) = p.min {
            s["minimum"] = json!(min);
        }
        if let Some(max) = p.max {
            s["maximum"] = json!(max);
        }
    }
    if p.kind == Kind::Text {
        if let Some(n) = p.min_length {
            s["minLength"] = json!(n);
        }
        if let Some(n) = p.max_length {
            s["maxLength"] = json!(n);
        }
        if let Some((source, _)) = &p.regex {
            // The whole text must match, as the server checks it.
            s["pattern"] = json!(format!("^(?:{source})$"));
        }
    }
    if !p.one_of.is_empty() {
        s["enum"] = json!(
            p.one_of
                .iter()
                .map(|v| schema_value(p, v))
                .collect::<Vec<_>>()
        );
    }
    let mut notes = vec![p.description.clone()];
    if p.coerce {
        notes.push("Text is accepted and converted (coerce).".into());
    }
    if p.kind == Kind::Blob && (p.min_length.is_some() || p.max_length.is_some()) {
        notes.push(format!(
            "Length in bytes: {} to {}.",
            p.min_length.unwrap_or(0),
            p.max_length.map_or("any".to_string(), |n| n.to_string())
        ));
    }
    let description = notes
        .into_iter()
        .filter(|n| !n.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if p.nullable {
        s = json!({"anyOf": [s, {"type": "null"}]});
    }
    if !description.is_empty() {
        s["description"] = json!(description);
    }
    if let Some(default) = &p.default {
        s["default"] = schema_value(p, default);
    }
    s
}

/// A default or allowed value of `p` as its schema's type has it: a bool's 0/1 as false/true,
/// an integer as a plain JSON integer (JSON Schema's integers have no size limit).
fn schema_value(p: &Param, value: &sqlited_proto::v1::Value) -> Json {
    use sqlited_proto::v1::value::Kind as V;
    match (&value.kind, p.kind) {
        (Some(V::Integer(i)), Kind::Bool) => json!(*i != 0),
        (Some(V::Integer(i)), _) => json!(*i),
        _ => to_json(value),
    }
}

/// Whether a parameter can be given as query-string text: text, a timestamp, or coerced.
fn from_text(p: &Param) -> bool {
    p.coerce || matches!(p.kind, Kind::Text | Kind::Timestamp { .. })
}

fn required(p: &Param) -> bool {
    !p.nullable && p.default.is_none()
}

/// An operation id of letters, digits and `_`, unique in the document.
fn unique_id(taken: &mut HashSet<String>, parts: &[&str]) -> String {
    let base: String = parts
        .join("_")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut id = base.clone();
    let mut n = 2;
    while !taken.insert(id.clone()) {
        id = format!("{base}_{n}");
        n += 1;
    }
    id
}

/// The path item of one exposed statement: GET (a reading statement whose every parameter
/// can be text) and POST (every statement; a JSON object of its arguments). One not
/// callable yet says why, in its description and in `x-sqlited-unavailable`.
fn statement_path(
    database: &str,
    s: &Exposed,
    unavailable: Option<&str>,
    taken: &mut HashSet<String>,
) -> Json {
    let summary = if s.description.is_empty() {
        format!("{} of {database}", s.name)
    } else {
        s.description.clone()
    };
    let mut description = format!(
        "Exposed statement {:?} of database {database:?}; it {}.",
        s.name,
        if s.writes {
            "writes (POST only)"
        } else {
            "reads"
        }
    );
    if let Some(why) = unavailable {
        description = format!("Not callable yet: {why}. {description}");
    }
    let mut item = json!({});
    if !s.writes && s.params.iter().all(from_text) {
        let mut params: Vec<Json> = s
            .params
            .iter()
            .map(|p| {
                json!({"name": p.name, "in": "query", "required": required(p),
                       "description": p.description, "schema": param_schema(p)})
            })
            .collect();
        params.push(parameter("RequestTimeout"));
        params.push(parameter("RequestId"));
        item["get"] = json!({
            "operationId": unique_id(taken, &[database, &s.name]),
            "summary": summary, "description": description,
            "tags": [database], "parameters": params, "responses": rows_ok(),
        });
    }
    let properties: Map<String, Json> = s
        .params
        .iter()
        .map(|p| (p.name.clone(), param_schema(p)))
        .collect();
    let needed: Vec<&str> = s
        .params
        .iter()
        .filter(|p| required(p))
        .map(|p| p.name.as_str())
        .collect();
    let post_id = if item.get("get").is_some() {
        unique_id(taken, &[database, &s.name, "post"])
    } else {
        unique_id(taken, &[database, &s.name])
    };
    item["post"] = json!({
        "operationId": post_id,
        "summary": summary, "description": description, "tags": [database],
        "parameters": [parameter("RequestTimeout"), parameter("RequestId")],
        "requestBody": json_body(json!({
            "type": "object", "properties": properties, "required": needed,
            "additionalProperties": false
        }), !needed.is_empty()),
        "responses": rows_ok(),
    });
    if let Some(why) = unavailable {
        for op in ["get", "post"] {
            if let Some(op) = item.get_mut(op) {
                op["x-sqlited-unavailable"] = json!(why);
            }
        }
    }
    item
}

/// The document for `principal` (every database without auth).
pub fn document(catalog: &Catalog, principal: Option<&Principal>, auth: bool) -> Json {
    let mut paths = fixed_paths();
    let mut taken: HashSet<String> = paths
        .values()
        .flat_map(|item| item.as_object().into_iter().flat_map(|o| o.values()))
        .filter_map(|op| op["operationId"].as_str().map(str::to_string))
        .collect();
    for (database, statements) in &catalog.databases {
        if principal.is_some_and(|p| p.access_to(database).is_none()) {
            continue;
        }
        let unavailable = catalog.unavailable(database);
        for statement in statements.statements.values() {
            let path = format!("/v1/databases/{database}/call/{}", statement.name);
            let item = statement_path(database, statement, unavailable.as_deref(), &mut taken);
            paths.insert(path, item);
        }
    }
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "sqlited HTTP/JSON gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "SQLite databases over HTTP/JSON: SQL, transactions and exposed statements. Values are lossless: see the Value schema."
        },
        "paths": paths,
        "components": components(),
    });
    if auth {
        document["security"] = json!([{"bearer": []}]);
    }
    document
}

fn components() -> Json {
    let mut components = fixed_components();
    // Apart: one json! of everything passes the macro's recursion limit.
    components["parameters"]["Sql"] = json!({"name": "q", "in": "query", "required": true,
        "description": "The SQL of the statement (one statement).", "schema": {"type": "string"}});
    components["parameters"]["Positional"] = json!({"name": "p", "in": "query", "required": false,
        "style": "form", "explode": true,
        "description": "The positional parameters, in order, one `p=` each; each value is JSON as in bodies (quote text: p=\"ann\").",
        "schema": {"type": "array", "items": {"type": "string"}}});
    components["schemas"]["Probe"] = json!({"type": "object", "required": ["status"], "properties": {
        "status": {"enum": ["SERVING", "NOT_SERVING"]},
        "reasons": {"type": "array", "items": {"type": "string"}}}});
    components["schemas"]["DatabaseList"] = json!({"type": "object", "required": ["databases"],
        "properties": {"databases": {"type": "array", "items": {
            "type": "object", "required": ["name", "role"], "properties": {
                "name": {"type": "string"}, "role": {"enum": ["read", "write", "admin"]}}}}}});
    components
}

fn fixed_components() -> Json {
    json!({
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
            "description": "A token of the credentials file: `Authorization: Bearer <token>`."}},
        "parameters": {
            "db": {"name": "db", "in": "path", "required": true, "description": "The database: [A-Za-z0-9_-]{1,64}, not starting with -.",
                   "schema": {"type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$"}},
            "tx": {"name": "tx", "in": "path", "required": true, "description": "A transaction id from begin.", "schema": {"type": "string"}},
            "name": {"name": "name", "in": "path", "required": true, "description": "An exposed statement's name.", "schema": {"type": "string"}},
            "DatabaseFilter": {"name": "database", "in": "query", "required": false, "description": "Only this database's statements.", "schema": {"type": "string"}},
            "RequestTimeout": {"name": "x-request-timeout-ms", "in": "header", "required": false,
                "description": "The request's deadline in milliseconds (gRPC's grpc-timeout); the server's --statement-timeout-ms still bounds it.",
                "schema": {"type": "integer", "minimum": 1}},
            "RequestId": {"name": "x-request-id", "in": "header", "required": false,
                "description": "The request's id for logs (1–64 of A-Z a-z 0-9 - _ . :); a new one otherwise. Every answer carries it.",
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"}}
        },
        "schemas": {
            "Value": {
                "description": "A SQLite value: null; a JSON number (an integer without fraction or exponent, else a real); a string (TEXT); true/false (the integers 1/0, in requests only); or a typed object for what a JSON number cannot carry exactly.",
                "anyOf": [
                    {"type": "null"}, {"type": "integer"}, {"type": "number"}, {"type": "string"}, {"type": "boolean"},
                    schema("TypedInteger"), schema("TypedReal"), schema("TypedBlob"), schema("TypedText"), schema("TypedNull")
                ]
            },
            "TypedInteger": {"type": "object", "required": ["type", "value"], "additionalProperties": false,
                "description": "An INTEGER outside ±(2^53−1), as decimal text.",
                "properties": {"type": {"const": "integer"}, "value": {"type": ["string", "integer"], "pattern": "^-?[0-9]+$"}}},
            "TypedReal": {"type": "object", "required": ["type", "value"], "additionalProperties": false,
                "description": "A REAL JSON cannot carry: \"-0.0\", \"inf\", \"-inf\", \"nan\" (decimal text is accepted too).",
                "properties": {"type": {"const": "real"}, "value": {"type": ["string", "number"]}}},
            "TypedBlob": {"type": "object", "required": ["type", "base64"], "additionalProperties": false,
                "description": "A BLOB, standard base64 (padded when sent, padding optional when received).",
                "properties": {"type": {"const": "blob"}, "base64": {"type": "string", "contentEncoding": "base64"}}},
            "TypedText": {"type": "object", "required": ["type", "value"], "additionalProperties": false,
                "properties": {"type": {"const": "text"}, "value": {"type": "string"}}},
            "TypedNull": {"type": "object", "required": ["type"], "additionalProperties": false,
                "properties": {"type": {"const": "null"}}},
            "Statement": {"type": "object", "required": ["sql"], "additionalProperties": false, "properties": {
                "sql": {"type": "string", "description": "One SQL statement."},
                "params": {"description": "An array binds ?, ?NNN (params[0] is ?1); an object binds :name, @name, $name by name (sigil optional).",
                    "anyOf": [{"type": "array", "items": schema("Value")}, {"type": "object", "additionalProperties": schema("Value")}]}
            }},
            "Batch": {"type": "object", "required": ["statements"], "additionalProperties": false,
                "properties": {"statements": {"type": "array", "items": schema("Statement")}}},
            "Column": {"type": "object", "required": ["name", "decl_type"], "properties": {
                "name": {"type": "string"}, "decl_type": {"type": "string", "description": "The declared type of the table column, empty for expressions."}}},
            "Result": {"type": "object", "required": ["columns", "rows", "rows_affected", "last_insert_rowid"], "properties": {
                "columns": {"type": "array", "items": schema("Column")},
                "rows": {"type": "array", "items": {"type": "array", "items": schema("Value")}},
                "rows_affected": schema("Value"),
                "last_insert_rowid": schema("Value")
            }},
            "BatchResult": {"type": "object", "required": ["results"], "properties": {"results": {"type": "array", "items": schema("Result")}}},
            "NdjsonLine": {"description": "With `Accept: application/x-ndjson`, one JSON object per line: the columns first, a row per line, then done or error.", "oneOf": [
                {"type": "object", "required": ["columns"], "properties": {"columns": {"type": "array", "items": schema("Column")}}},
                {"type": "object", "required": ["row"], "properties": {"row": {"type": "array", "items": schema("Value")}}},
                {"type": "object", "required": ["done"], "properties": {"done": {"type": "object", "properties": {
                    "rows": {"type": "integer"}, "rows_affected": schema("Value"), "last_insert_rowid": schema("Value")}}}},
                schema("Error")
            ]},
            "Begin": {"type": "object", "additionalProperties": false, "properties": {
                "read_only": {"type": "boolean", "default": false, "description": "Pins a reader and one snapshot; writes are refused."},
                "mode": {"enum": ["deferred", "immediate", "exclusive"], "default": "deferred"},
                "lease_ms": {"type": "integer", "minimum": 0, "description": "The idle lease; 0 or absent: --transaction-lease-ms, at most --max-transaction-lease-ms."}
            }},
            "Transaction": {"type": "object", "required": ["transaction_id", "lease_ms"], "properties": {
                "transaction_id": {"type": "string"}, "lease_ms": {"type": "integer"}}},
            "StatementList": {"type": "object", "required": ["statements"], "properties": {"statements": {"type": "array", "items": {"type": "object"}}}},
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object",
                "required": ["code", "reason", "message", "fields", "retryable", "request_id"], "properties": {
                "code": {"type": "string", "description": "The gRPC code's name, e.g. INVALID_ARGUMENT."},
                "reason": {"type": "string", "description": "e.g. SQLITE_CONSTRAINT_UNIQUE, TRANSACTION_ABORTED, LIMIT_EXCEEDED."},
                "message": {"type": "string", "description": "What happened and what to do."},
                "sqlite_code": {"type": ["integer", "null"], "description": "SQLite's extended result code."},
                "fields": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "description": {"type": "string"}}}},
                "retryable": {"type": "boolean"},
                "retry_after_ms": {"type": ["integer", "null"]},
                "request_id": {"type": "string"}
            }}}}
        }
    })
}
