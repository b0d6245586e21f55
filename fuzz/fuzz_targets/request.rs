//! Arbitrary bytes as a request: decoded as each request message the server takes, then
//! through the server's own checks — database and map names, the credentials parser, the
//! statement run on a real reader connection with parameters bound and the SQL sandbox on
//! (read access, so the fuzzer cannot grow the database) — and every error turned into a
//! status. Nothing may panic, hang or escape the sandbox.
//!
//! The same bytes are also a body of the HTTP gateway: parsed as JSON, decoded as a
//! statement, a batch and a call's arguments (and as a query string), each decoded value
//! encoded back to JSON and decoded again to the very same value (bit for bit), and the
//! decoded statements run like the others.
//!
//! The same bytes also pick one of SQLite's functions (every one `PRAGMA function_list`
//! names, fts3_tokenizer and friends included) and call it with bound parameters of every
//! type made from the rest: SQLite trusts bound parameters as the application's own, so
//! each function must be safe with any of them, and the ones that are not must be refused.

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use prost::Message;
use sqlited::fuzzing::{
    ConnectionSettings, Credentials, Role, Sqlite, Synchronous, body, executor, name, values,
};
use sqlited::{Access, CancelToken};
use sqlited_proto::v1::value::Kind;
use sqlited_proto::v1::{
    ExecuteBatchRequest, ExecuteRequest, QueryRequest, SetManyRequest, Statement, Value,
};

struct Fixture {
    /// A reader: a read token's statements run on readers (the writer runs none of them).
    db: Sqlite,
    /// The writer, which made the database.
    _writer: Sqlite,
    /// Every SQL function of the connection, with its number of arguments (-1: any).
    functions: Vec<(String, i32)>,
    _dir: tempfile::TempDir,
}

// The connection is used from the fuzzing thread only.
unsafe impl Sync for Fixture {}
unsafe impl Send for Fixture {}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = ConnectionSettings {
            path: dir.path().join("fuzz.db"),
            synchronous: Synchronous::Off,
            busy_timeout: Duration::from_millis(10),
            statement_cache: 16,
            statement_cache_bytes: 8 << 20,
            cache_kib: 1024,
            sandbox: true,
            max_value_bytes: 1 << 20,
            replicated: false,
            request_memory: Default::default(),
        };
        let writer = Sqlite::open(&settings, Role::Writer).expect("open");
        writer
            .conn()
            .execute_batch("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c BLOB); INSERT INTO t VALUES (1, 'x', x'00');")
            .expect("schema");
        let db = Sqlite::open(&settings, Role::Reader).expect("open a reader");
        let functions = db
            .conn()
            .prepare("SELECT DISTINCT name, narg FROM pragma_function_list ORDER BY name, narg")
            .and_then(|mut stmt| {
                stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<Result<Vec<(String, i32)>, _>>()
            })
            .expect("function list");
        Fixture {
            db,
            _writer: writer,
            functions,
            _dir: dir,
        }
    })
}

fn run(statement: &Statement) -> bool {
    let db = &fixture().db;
    let token = CancelToken::new(Some(Duration::from_millis(20)), None);
    token.set_access(Access::Read);
    let result = db.run_task(&token, || executor::execute(db, statement));
    let ok = result.is_ok();
    if let Err(err) = result {
        let _ = err.into_status(Some("fuzz"));
    }
    assert!(
        db.conn().is_autocommit(),
        "a statement left a transaction open"
    );
    ok
}

/// One value of the type `data`'s first byte picks, made from the bytes after it.
fn value(data: &mut &[u8]) -> Value {
    let Some((&kind, rest)) = data.split_first() else {
        return Value { kind: None };
    };
    let len = usize::from(rest.first().copied().unwrap_or(0) % 17).min(rest.len());
    let (bytes, rest) = rest.split_at(len);
    *data = rest;
    let mut word = [0u8; 8];
    word[..bytes.len().min(8)].copy_from_slice(&bytes[..bytes.len().min(8)]);
    let kind = match kind % 5 {
        0 => Kind::Null(0),
        1 => Kind::Integer(i64::from_le_bytes(word)),
        2 => Kind::Real(f64::from_le_bytes(word)),
        3 => Kind::Text(String::from_utf8_lossy(bytes).into_owned()),
        _ => Kind::Blob(bytes.to_vec()),
    };
    Value { kind: Some(kind) }
}

/// Calls the function `data` picks with bound parameters made from the rest of it.
fn call_function(data: &[u8]) {
    let functions = &fixture().functions;
    let [a, b, c, rest @ ..] = data else {
        return;
    };
    let (name, narg) = &functions[usize::from(u16::from_le_bytes([*a, *b])) % functions.len()];
    let arity = usize::try_from(*narg).unwrap_or(usize::from(c % 4)).min(8);
    let mut rest = rest;
    let params: Vec<Value> = (0..arity).map(|_| value(&mut rest)).collect();
    let placeholders: Vec<String> = (1..=arity).map(|i| format!("?{i}")).collect();
    let statement = Statement {
        sql: format!("SELECT {name}({})", placeholders.join(", ")),
        params,
        ..Statement::default()
    };
    let ok = run(&statement);
    assert!(
        !(ok && name.eq_ignore_ascii_case("fts3_tokenizer")),
        "fts3_tokenizer() ran with bound parameters"
    );
}

/// The value `value` must come back as from its JSON encoding.
fn round_trip(value: &Value) {
    let text = serde_json::to_string(&values::Out(value)).expect("a value encodes");
    let json: serde_json::Value = serde_json::from_str(&text).expect("its encoding parses");
    let back = values::from_json(&json, "v").expect("its encoding decodes");
    let same = match (&value.kind, &back.kind) {
        (Some(Kind::Real(a)), Some(Kind::Real(b))) => {
            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
        }
        (None | Some(Kind::Null(_)), None | Some(Kind::Null(_))) => true,
        (a, b) => a == b,
    };
    assert!(same, "{value:?} came back as {back:?} from {text}");
}

/// `data` as an HTTP gateway body and query string.
fn gateway(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = body::query_args(text);
    }
    let Ok(object) = body::object(data) else {
        return;
    };
    if let Ok(statement) = body::statement(&object, "") {
        statement
            .params
            .iter()
            .chain(statement.named_params.values())
            .for_each(round_trip);
        run(&statement);
    }
    if let Ok(statements) = body::batch(&object) {
        for statement in statements.iter().take(4) {
            statement.params.iter().for_each(round_trip);
            run(statement);
        }
    }
    if let Ok(args) = body::call_args(&object) {
        args.values().for_each(round_trip);
    }
    let _ = (
        body::flag(&object, "read_only"),
        body::u32_field(&object, "lease_ms"),
    );
}

fuzz_target!(|data: &[u8]| {
    call_function(data);
    gateway(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = name::validate(text);
        let _ = Credentials::parse(text);
    }
    if let Ok(request) = ExecuteRequest::decode(data) {
        let _ = name::validate(&request.database);
        if let Some(statement) = &request.statement {
            run(statement);
        }
    }
    if let Ok(request) = QueryRequest::decode(data) {
        let _ = name::validate(&request.database);
    }
    if let Ok(request) = ExecuteBatchRequest::decode(data) {
        for statement in request.statements.iter().take(4) {
            run(statement);
        }
    }
    if let Ok(request) = SetManyRequest::decode(data)
        && let Some(map) = &request.map
    {
        let _ = name::validate(&map.map);
    }
});
