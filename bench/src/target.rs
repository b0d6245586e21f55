//! What the requests go to: sqlited over gRPC (async or blocking client), sqlited's engine
//! in-process (no gRPC), deadpool-sqlite's `interact`, or rusqlite directly (the ceiling).

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::types::Value as SqlValue;
use sqlited::CancelToken;
use sqlited_client::{Value, blocking};
use sqlited_proto::v1 as proto;
use tokio_stream::StreamExt;

use crate::workload::{MAP_TABLE, Op};

/// Names an error for the report.
fn client_error(err: sqlited_client::Error) -> String {
    match err.status_code() {
        Some(code) => format!("{code:?}"),
        None => err.kind().name().to_string(),
    }
}

fn proto_statement(sql: &str, params: &[Value]) -> proto::Statement {
    proto::Statement {
        sql: sql.to_string(),
        params: params.iter().cloned().map(Into::into).collect(),
        ..Default::default()
    }
}

fn sql_value(value: &Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Integer(i) => SqlValue::Integer(*i),
        Value::Real(r) => SqlValue::Real(*r),
        Value::Text(t) => SqlValue::Text(t.clone()),
        Value::Blob(b) => SqlValue::Blob(b.clone()),
    }
}

/// A `PersistentMap<String, _>` key as postcard encodes it (the bench's keys are short).
fn map_key_bytes(key: &str) -> Vec<u8> {
    let mut bytes = vec![key.len() as u8];
    bytes.extend_from_slice(key.as_bytes());
    bytes
}

/// Runs `op` on a rusqlite connection, reading every value of every row.
fn run_rusqlite(conn: &rusqlite::Connection, op: &Op) -> rusqlite::Result<()> {
    match op {
        Op::Ceiling => unreachable!("rpc-ceiling is refused before it reaches SQLite"),
        // The map as one locked connection runs it: the seed's PersistentDict.
        Op::MapInsert(key, value) => {
            let key = map_key_bytes(key);
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let result = (|| {
                use rusqlite::OptionalExtension;
                let version: Option<i64> = conn
                    .prepare_cached(&format!("SELECT version FROM {MAP_TABLE} WHERE key = ?1"))?
                    .query_row([&key], |row| row.get(0))
                    .optional()?;
                conn.prepare_cached(&format!(
                    "INSERT INTO {MAP_TABLE} (key, value, version) VALUES (?1, ?2, ?3) \
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = excluded.version"
                ))?
                .execute(rusqlite::params![key, value, version.map_or(1, |v| v + 1)])?;
                Ok(())
            })();
            conn.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
            result
        }
        Op::MapGet(key) => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT value, version FROM {MAP_TABLE} WHERE key = ?1"
            ))?;
            let mut rows = stmt.query([map_key_bytes(key)])?;
            while let Some(row) = rows.next()? {
                std::hint::black_box(row.get_ref(0)?);
            }
            Ok(())
        }
        Op::Query(sql, params) => {
            let mut stmt = conn.prepare_cached(sql)?;
            let columns = stmt.column_count();
            let mut rows = stmt.query(rusqlite::params_from_iter(params.iter().map(sql_value)))?;
            while let Some(row) = rows.next()? {
                for i in 0..columns {
                    std::hint::black_box(row.get_ref(i)?);
                }
            }
            Ok(())
        }
        Op::Execute(sql, params) => {
            conn.prepare_cached(sql)?
                .execute(rusqlite::params_from_iter(params.iter().map(sql_value)))?;
            Ok(())
        }
        Op::Many(sql, sets) => {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let result = (|| {
                let mut stmt = conn.prepare_cached(sql)?;
                for set in sets {
                    stmt.execute(rusqlite::params_from_iter(set.iter().map(sql_value)))?;
                }
                Ok(())
            })();
            conn.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
            result
        }
    }
}

/// Opens a connection the way sqlited does: WAL, synchronous=FULL, a busy timeout.
pub fn open_rusqlite(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
    conn.execute_batch("PRAGMA synchronous=FULL")?;
    Ok(conn)
}

/// Targets driven by async tasks.
pub enum AsyncTarget {
    /// sqlited over gRPC, one handle per channel.
    Server(Vec<sqlited_client::Database>),
    /// sqlited's engine in the same process: workers and routing without gRPC.
    Engine(Arc<sqlited::Database>),
    /// deadpool-sqlite: a pool of connections reached through `interact`.
    Deadpool(deadpool_sqlite::Pool),
    /// sqlited's HTTP/JSON gateway.
    Http(crate::http::HttpTarget),
    /// sqlited's health check: the RPC ceiling.
    Ceiling(crate::ceiling::Ceiling),
}

impl AsyncTarget {
    /// Runs `op` for client number `client`.
    pub async fn call(&self, client: usize, op: &Op) -> Result<(), String> {
        if matches!(op, Op::Ceiling) != matches!(self, AsyncTarget::Ceiling(_)) {
            return Err("the rpc-ceiling workload runs against --target server only".into());
        }
        match self {
            AsyncTarget::Ceiling(ceiling) => ceiling.call(client).await,
            AsyncTarget::Server(dbs) => {
                let db = &dbs[client % dbs.len()];
                match op {
                    Op::Query(sql, params) => {
                        let mut rows = db.query(sql, params.clone()).await.map_err(client_error)?;
                        while rows.next().await.map_err(client_error)?.is_some() {}
                    }
                    Op::Execute(sql, params) => {
                        db.execute(sql, params.clone())
                            .await
                            .map_err(client_error)?;
                    }
                    Op::Many(sql, sets) => {
                        db.execute_many(sql, sets.iter().cloned())
                            .await
                            .map_err(client_error)?;
                    }
                    Op::MapInsert(key, value) => {
                        db.map::<String, Vec<u8>>("bench")
                            .insert(key.clone(), value.clone())
                            .await
                            .map_err(client_error)?;
                    }
                    Op::MapGet(key) => {
                        db.map::<String, Vec<u8>>("bench")
                            .get(key)
                            .await
                            .map_err(client_error)?;
                    }
                    Op::Ceiling => unreachable!("refused above"),
                }
                Ok(())
            }
            AsyncTarget::Engine(_) if matches!(op, Op::MapInsert(..) | Op::MapGet(..)) => {
                Err("the kv workloads run against --target server or rusqlite".into())
            }
            AsyncTarget::Engine(db) => {
                let token = CancelToken::none();
                match op {
                    Op::Query(sql, params) => {
                        let mut rows = db
                            .query(proto_statement(sql, params), &token)
                            .await
                            .map_err(|e| format!("{:?}", e.code()))?;
                        while let Some(message) = rows.next().await {
                            message.map_err(|e| format!("{:?}", e.code()))?;
                        }
                    }
                    Op::Execute(sql, params) => {
                        db.execute(proto_statement(sql, params), &token)
                            .await
                            .map_err(|e| format!("{:?}", e.code()))?;
                    }
                    Op::MapInsert(..) | Op::MapGet(..) | Op::Ceiling => {
                        unreachable!("refused above")
                    }
                    Op::Many(sql, sets) => {
                        let statements = sets.iter().map(|set| proto_statement(sql, set)).collect();
                        db.execute_batch(statements, &token)
                            .await
                            .map_err(|e| format!("{:?}", e.code()))?;
                    }
                }
                Ok(())
            }
            AsyncTarget::Http(http) => http.call(client, op).await,
            AsyncTarget::Deadpool(pool) => {
                let conn = pool.get().await.map_err(|e| format!("pool: {e}"))?;
                let op = op.clone();
                conn.interact(move |conn| run_rusqlite(conn, &op))
                    .await
                    .map_err(|e| format!("interact: {e}"))?
                    .map_err(|e| format!("sqlite: {e}"))
            }
        }
    }
}

/// Targets driven by OS threads.
pub enum BlockingTarget {
    /// sqlited over gRPC through the blocking DB-API connection, one per channel.
    Server(Vec<blocking::Connection>),
    /// rusqlite in this process: a connection per thread for reads, and one shared
    /// connection behind a mutex for writes, each its own durable transaction.
    Rusqlite {
        path: std::path::PathBuf,
        writer: Mutex<rusqlite::Connection>,
    },
}

/// A thread's own handle on a blocking target.
pub enum ThreadClient<'a> {
    Server(&'a blocking::Connection),
    Rusqlite {
        reader: rusqlite::Connection,
        writer: &'a Mutex<rusqlite::Connection>,
    },
}

impl BlockingTarget {
    /// The handle thread number `client` uses.
    pub fn client(&self, client: usize) -> ThreadClient<'_> {
        match self {
            BlockingTarget::Server(conns) => ThreadClient::Server(&conns[client % conns.len()]),
            BlockingTarget::Rusqlite { path, writer } => ThreadClient::Rusqlite {
                reader: open_rusqlite(path).expect("open a reader"),
                writer,
            },
        }
    }
}

impl ThreadClient<'_> {
    /// Runs `op`.
    pub fn call(&self, op: &Op) -> Result<(), String> {
        match self {
            ThreadClient::Server(conn) => {
                match op {
                    Op::Query(sql, params) => {
                        let mut cursor = conn.cursor();
                        cursor.execute(sql, params.clone()).map_err(client_error)?;
                        while cursor.fetchone().map_err(client_error)?.is_some() {}
                    }
                    Op::Execute(sql, params) => {
                        conn.cursor()
                            .execute(sql, params.clone())
                            .map_err(client_error)?;
                    }
                    Op::Many(sql, sets) => {
                        conn.executemany(sql, sets.iter().cloned())
                            .map_err(client_error)?;
                    }
                    Op::MapInsert(key, value) => {
                        conn.map::<String, Vec<u8>>("bench")
                            .insert(key.clone(), value.clone())
                            .map_err(client_error)?;
                    }
                    Op::MapGet(key) => {
                        conn.map::<String, Vec<u8>>("bench")
                            .get(key)
                            .map_err(client_error)?;
                    }
                    Op::Ceiling => return Err("rpc-ceiling runs in --mode tasks".into()),
                }
                Ok(())
            }
            ThreadClient::Rusqlite { reader, writer } => {
                let result = match op {
                    Op::Ceiling => return Err("rpc-ceiling runs against --target server".into()),
                    Op::Query(..) | Op::MapGet(..) => run_rusqlite(reader, op),
                    Op::Execute(..) | Op::Many(..) | Op::MapInsert(..) => {
                        run_rusqlite(&writer.lock().expect("writer"), op)
                    }
                };
                result.map_err(|e| format!("sqlite: {e}"))
            }
        }
    }
}
