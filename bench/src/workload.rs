//! The workloads: what one request is, and the data each needs (`--init`).

use std::borrow::Cow;

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
    /// A durable `PersistentMap::insert` of a small value at a random one of the map's 100k
    /// keys: an update spread over the whole table, the worst case for the disk.
    KvInsert,
    /// A durable `PersistentMap::insert` of a small value at a new key, keys in time order
    /// (`d[next_id()] = v`): appends.
    KvAppend,
    /// A `PersistentMap::get` of a random one of the map's 100k keys (server only).
    KvGet,
    /// A single-row durable `INSERT … RETURNING id` sent through Query (the writer collects
    /// the rows and sends them after COMMIT).
    Returning,
    /// `grpc.health.v1.Health/Check`: an RPC that touches no worker, the ceiling of every
    /// other workload over the same transport (server only, tasks mode).
    RpcCeiling,
    /// A hostile read client: queries that would build gigabytes (zeroblob, replace, printf,
    /// doubling) or sort a cross join, round robin. Each should fail fast with
    /// RESOURCE_EXHAUSTED (or its deadline); `bench/memory.py` reads the server's RSS meanwhile.
    Hostile,
    /// A hostile read client whose queries build temporary B-trees, about a gigabyte each
    /// unbounded: a recursive CTE with UNION, DISTINCT, GROUP BY and a window `group_concat`
    /// over generated rows, round robin. Each should fail fast with RESOURCE_EXHAUSTED at the
    /// request's memory budget (issue 29, item 2).
    HostileTemp,
    /// A hostile read client whose every query is a distinct, large statement (an IN list of
    /// 40,000 numbers, about 4.7 MB compiled): kept by each connection's statement cache
    /// it would outlive its request, beyond every request's budget (issue 29 review, A).
    HostileStatements,
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
            Workload::KvAppend => "kv-append",
            Workload::KvGet => "kv-get",
            Workload::Returning => "returning",
            Workload::RpcCeiling => "rpc-ceiling",
            Workload::Hostile => "hostile",
            Workload::HostileTemp => "hostile-temp",
            Workload::HostileStatements => "hostile-statements",
        }
    }
}

/// One request.
#[derive(Debug, Clone)]
pub enum Op {
    /// A statement returning rows.
    Query(Cow<'static, str>, Vec<Value>),
    /// A statement changing rows.
    Execute(&'static str, Vec<Value>),
    /// The same statement with many parameter sets, in one transaction.
    Many(&'static str, Vec<Vec<Value>>),
    /// Insert into the persistent map `bench` (`PersistentMap<String, Vec<u8>>`).
    MapInsert(String, Vec<u8>),
    /// Get from the persistent map `bench`.
    MapGet(String),
    /// A health check (no SQL).
    Ceiling,
}

pub const POINT_SELECT: &str = "SELECT id, a, b, c FROM data WHERE id = ?";
pub const UPDATE: &str = "UPDATE data SET a = a + 1 WHERE id = ?";
pub const INSERT: &str = "INSERT INTO ins (a, c) VALUES (?, ?)";
pub const INSERT_RETURNING: &str = "INSERT INTO ins (a, c) VALUES (?, ?) RETURNING id";
pub const SCAN_HEAVY: &str = "SELECT count(*) FROM scan_big WHERE b > ?";
pub const SCAN_LIGHT: &str = "SELECT count(*) FROM scan_one WHERE b > ?";

/// The queries of the `hostile` workload (issue: hardening, item 3).
pub const HOSTILE: &[&str] = &[
    "SELECT zeroblob(999000000)",
    "SELECT replace(hex(zeroblob(100000000)), '0', 'ab')",
    "SELECT printf('%.*c', 900000000, 'x')",
    "WITH RECURSIVE d(s, n) AS (SELECT 'xxxxxxxx', 0 UNION ALL SELECT s || s, n + 1 FROM d \
     WHERE n < 40) SELECT length(s) FROM d",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) \
     SELECT a.x, b.x, randomblob(100) AS r FROM c a, c b ORDER BY r LIMIT 1",
];

/// The queries of the `hostile-temp` workload: each would hold about 1 GB of temporary
/// B-tree (10 million rows of ~100 bytes; a window partition of a million 1,000-byte blobs).
pub const HOSTILE_TEMP: &[&str] = &[
    "WITH RECURSIVE u(x, b) AS (SELECT 1, randomblob(100) UNION SELECT x + 1, randomblob(100) \
     FROM u WHERE x < 10000000) SELECT count(*) FROM u",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000) \
     SELECT count(*) FROM (SELECT DISTINCT x, randomblob(100) FROM c)",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000) \
     SELECT count(*) FROM (SELECT hex(randomblob(50)) AS b FROM c GROUP BY b)",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) \
     SELECT count(g) FROM (SELECT group_concat(randomblob(1000)) OVER () AS g FROM c)",
];

/// A statement of the `hostile-statements` workload: an IN list of 40,000 numbers, distinct
/// from every other one sent (a random offset), about 250 KB of SQL and 4.7 MB compiled.
pub fn distinct_statement(rng: &mut fastrand::Rng) -> String {
    const TERMS: u64 = 40_000;
    let offset = rng.u64(..1 << 40);
    let mut sql = format!("SELECT count(*) FROM (SELECT 1) WHERE {offset} IN (");
    for i in 0..TERMS {
        use std::fmt::Write;
        let _ = write!(sql, "{}{}", if i == 0 { "" } else { "," }, offset + i * 7);
    }
    sql.push(')');
    sql
}

/// The map `bench`'s key number `n` of the 100k the init step writes.
pub fn map_key(n: i64) -> String {
    format!("k{n:06}")
}

/// Keys of `kv-append` start with the run's start time, so that runs never collide.
static APPEND_EPOCH: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
});

/// The table behind the persistent map `bench`, as the server makes it.
pub const MAP_TABLE: &str = "kv_bench";

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
            Workload::PointSelect => Op::Query(POINT_SELECT.into(), vec![random_id(rng)]),
            Workload::Insert => Op::Execute(INSERT, insert_params(rng)),
            Workload::Update => Op::Execute(UPDATE, vec![random_id(rng)]),
            Workload::Mixed if rng.u8(0..10) == 0 => Op::Execute(UPDATE, vec![random_id(rng)]),
            Workload::Mixed => Op::Query(POINT_SELECT.into(), vec![random_id(rng)]),
            Workload::ScanHeavy => Op::Query(SCAN_HEAVY.into(), vec![Value::Real(rng.f64())]),
            Workload::ScanLight => Op::Query(SCAN_LIGHT.into(), vec![Value::Real(rng.f64())]),
            Workload::Batch => Op::Many(
                INSERT,
                (0..BATCH_ROWS).map(|_| insert_params(rng)).collect(),
            ),
            Workload::KvInsert => {
                Op::MapInsert(map_key(rng.i64(1..=DATA_ROWS)), vec![rng.u8(..); 16])
            }
            Workload::KvAppend => {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let started = *APPEND_EPOCH;
                Op::MapInsert(format!("n{started:012}{n:012}"), vec![rng.u8(..); 16])
            }
            Workload::KvGet => Op::MapGet(map_key(rng.i64(1..=DATA_ROWS))),
            Workload::Returning => Op::Query(INSERT_RETURNING.into(), insert_params(rng)),
            Workload::RpcCeiling => Op::Ceiling,
            Workload::Hostile => Op::Query(HOSTILE[rng.usize(..HOSTILE.len())].into(), vec![]),
            Workload::HostileTemp => {
                Op::Query(HOSTILE_TEMP[rng.usize(..HOSTILE_TEMP.len())].into(), vec![])
            }
            Workload::HostileStatements => Op::Query(distinct_statement(rng).into(), vec![]),
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
        format!("DROP TABLE IF EXISTS {MAP_TABLE}"),
        format!(
            "CREATE TABLE {MAP_TABLE} (key BLOB PRIMARY KEY, value BLOB NOT NULL, \
             version INTEGER NOT NULL DEFAULT 1) WITHOUT ROWID"
        ),
        // Keys as PersistentMap<String, _> stores them: postcard's length byte, then UTF-8.
        format!(
            "INSERT INTO {MAP_TABLE} (key, value) SELECT CAST(x'07' || printf('k%06d', x) AS BLOB), \
             x'1000112233445566778899aabbccddeeff' FROM ({})",
            numbers(DATA_ROWS)
        ),
    ]
}
