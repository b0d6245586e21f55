//! The workloads: what one request is, and the data each needs (`--init`).

use sqlited_client::Value;

/// Rows of the point-select / update table.
pub const DATA_ROWS: i64 = 100_000;
/// Rows of the seed's heavy scan table.
pub const SCAN_ROWS: i64 = 1_000_000;
/// Rows per `batch` request.
pub const BATCH_ROWS: usize = 100;

/// A kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// `SELECT … WHERE id = ?` on a random id of a 100k-row table.
    PointSelect,
    /// A single-row durable INSERT.
    Insert,
    /// A single-row UPDATE by primary key.
    Update,
    /// 90% point selects, 10% updates.
    Mixed,
    /// The seed's heavy work: `SELECT count(*) FROM scan_big WHERE b > ?` on 1,000,000 rows.
    ScanHeavy,
    /// The seed's negligible work: the same on a table of 1 row.
    ScanLight,
    /// executemany of 100 single-row INSERTs in one request.
    Batch,
    /// A durable `PersistentMap::insert` of a small value at a random key (server only).
    KvInsert,
    /// A `PersistentMap::get` of a random key (server only).
    KvGet,
}

impl Workload {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::PointSelect => "point-select",
            Workload::Insert => "insert",
            Workload::Update => "update",
            Workload::Mixed => "mixed",
            Workload::ScanHeavy => "scan-heavy",
            Workload::ScanLight => "scan-light",
            Workload::Batch => "batch",
            Workload::KvInsert => "kv-insert",
            Workload::KvGet => "kv-get",
        }
    }
}

/// One request.
#[derive(Debug, Clone)]
pub enum Op {
    /// A statement returning rows.
    Query(&'static str, Vec<Value>),
    /// A statement changing rows.
    Execute(&'static str, Vec<Value>),
    /// The same statement with many parameter sets, in one transaction.
    Many(&'static str, Vec<Vec<Value>>),
    /// Insert into the persistent map `bench`.
    MapInsert(u64, Vec<u8>),
    /// Get from the persistent map `bench`.
    MapGet(u64),
}

pub const POINT_SELECT: &str = "SELECT id, a, b, c FROM data WHERE id = ?";
pub const UPDATE: &str = "UPDATE data SET a = a + 1 WHERE id = ?";
pub const INSERT: &str = "INSERT INTO ins (a, c) VALUES (?, ?)";
pub const SCAN_HEAVY: &str = "SELECT count(*) FROM scan_big WHERE b > ?";
pub const SCAN_LIGHT: &str = "SELECT count(*) FROM scan_one WHERE b > ?";

fn random_id(rng: &mut fastrand::Rng) -> Value {
    Value::Integer(rng.i64(1..=DATA_ROWS))
}

fn insert_params(rng: &mut fastrand::Rng) -> Vec<Value> {
    vec![
        Value::Integer(rng.i64(0..1_000_000)),
        Value::Text(format!("v{}", rng.u32(..))),
    ]
}

impl Workload {
    /// The next request of this workload.
    pub fn next(self, rng: &mut fastrand::Rng) -> Op {
        match self {
            Workload::PointSelect => Op::Query(POINT_SELECT, vec![random_id(rng)]),
            Workload::Insert => Op::Execute(INSERT, insert_params(rng)),
            Workload::Update => Op::Execute(UPDATE, vec![random_id(rng)]),
            Workload::Mixed if rng.u8(0..10) == 0 => Op::Execute(UPDATE, vec![random_id(rng)]),
            Workload::Mixed => Op::Query(POINT_SELECT, vec![random_id(rng)]),
            Workload::ScanHeavy => Op::Query(SCAN_HEAVY, vec![Value::Real(rng.f64())]),
            Workload::ScanLight => Op::Query(SCAN_LIGHT, vec![Value::Real(rng.f64())]),
            Workload::Batch => Op::Many(
                INSERT,
                (0..BATCH_ROWS).map(|_| insert_params(rng)).collect(),
            ),
            Workload::KvInsert => Op::MapInsert(rng.u64(0..DATA_ROWS as u64), vec![rng.u8(..); 16]),
            Workload::KvGet => Op::MapGet(rng.u64(0..DATA_ROWS as u64)),
        }
    }
}

/// The statements that (re)create every table the workloads use, in order.
pub fn init_statements() -> Vec<String> {
    let numbers = |n: i64| {
        format!(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT x FROM c"
        )
    };
    vec![
        "DROP TABLE IF EXISTS data".into(),
        "CREATE TABLE data (id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b REAL NOT NULL, c TEXT NOT NULL)".into(),
        format!(
            "INSERT INTO data SELECT x, abs(random()) % 1000, abs(random()) / 9.3e18, hex(randomblob(8)) FROM ({})",
            numbers(DATA_ROWS)
        ),
        "DROP TABLE IF EXISTS ins".into(),
        "CREATE TABLE ins (id INTEGER PRIMARY KEY, a INTEGER NOT NULL, c TEXT NOT NULL)".into(),
        "DROP TABLE IF EXISTS scan_big".into(),
        "CREATE TABLE scan_big (id INTEGER PRIMARY KEY, b REAL NOT NULL)".into(),
        format!("INSERT INTO scan_big SELECT x, abs(random()) / 9.3e18 FROM ({})", numbers(SCAN_ROWS)),
        "DROP TABLE IF EXISTS scan_one".into(),
        "CREATE TABLE scan_one (id INTEGER PRIMARY KEY, b REAL NOT NULL)".into(),
        "INSERT INTO scan_one VALUES (1, 0.5)".into(),
    ]
}
