//! Arbitrary bytes as a request: decoded as each request message the server takes, then
//! through the server's own checks — database and map names, the credentials parser, the
//! statement run on a real worker connection with parameters bound and the SQL sandbox on
//! (read access, so the fuzzer cannot grow the database) — and every error turned into a
//! status. Nothing may panic, hang or escape the sandbox.

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use prost::Message;
use sqlited::auth::{Access, Credentials};
use sqlited::engine::name;
use sqlited::worker::Role;
use sqlited::worker::cancel::CancelToken;
use sqlited::worker::connection::{ConnectionSettings, Sqlite, Synchronous};
use sqlited::worker::executor;
use sqlited_proto::v1::{ExecuteBatchRequest, ExecuteRequest, QueryRequest, SetManyRequest};

struct Fixture {
    db: Sqlite,
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
            cache_kib: 1024,
            sandbox: true,
        };
        let db = Sqlite::open(&settings, Role::Writer).expect("open");
        db.conn()
            .execute_batch("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c BLOB); INSERT INTO t VALUES (1, 'x', x'00');")
            .expect("schema");
        Fixture { db, _dir: dir }
    })
}

fn run(statement: &sqlited_proto::v1::Statement) {
    let db = &fixture().db;
    let token = CancelToken::new(Some(Duration::from_millis(20)), None);
    token.set_access(Access::Read);
    let result = db.run_task(&token, || executor::execute(db, statement));
    if let Err(err) = result {
        let _ = err.into_status(Some("fuzz"));
    }
    assert!(
        db.conn().is_autocommit(),
        "a statement left a transaction open"
    );
}

fuzz_target!(|data: &[u8]| {
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
