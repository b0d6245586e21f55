//! The name of every metric the server records: a leaf module, so that whatever records a
//! metric (the workers, the engine, the services) imports only these names, never the
//! exporter.

/// Requests by service, RPC and status code.
pub const REQUESTS: &str = "sqlited_requests_total";
/// Request latency by service and RPC, in seconds.
pub const REQUEST_SECONDS: &str = "sqlited_request_duration_seconds";
/// Rows streamed back by Query.
pub const ROWS_RETURNED: &str = "sqlited_rows_returned_total";
/// Write requests waiting for or held by a database's writer.
pub const WRITE_QUEUE: &str = "sqlited_write_queue_depth";
/// Requests per group commit transaction.
pub const GROUP_SIZE: &str = "sqlited_group_commit_size";
/// Interactive transactions open now.
pub const OPEN_TRANSACTIONS: &str = "sqlited_open_transactions";
/// Workers replaced after they died, by role.
pub const WORKER_RESTARTS: &str = "sqlited_worker_restarts_total";
/// Database and WAL file sizes.
pub const DATABASE_BYTES: &str = "sqlited_database_bytes";
/// The newest Litestream transaction the replica holds, per database.
pub const REPLICA_TXID: &str = "sqlited_replica_txid";
/// How long the oldest write the replica does not hold yet has waited, in seconds.
pub const REPLICATION_LAG_SECONDS: &str = "sqlited_replication_lag_seconds";
/// Write requests committed locally that the replica does not hold yet.
pub const REPLICATION_LAG_WRITES: &str = "sqlited_replication_lag_writes";
/// WAL frames the writer appended that the replica does not hold yet.
pub const REPLICATION_LAG_FRAMES: &str = "sqlited_replication_lag_frames";
/// When a sync last succeeded (Unix time, seconds).
pub const REPLICATION_LAST_SYNC: &str = "sqlited_replication_last_sync_timestamp_seconds";
/// Syncs that failed.
pub const REPLICATION_SYNC_FAILURES: &str = "sqlited_replication_sync_failures_total";
/// How long a sync-mode write waited for the replica, in seconds.
pub const REPLICATION_SYNC_WAIT_SECONDS: &str = "sqlited_replication_sync_wait_seconds";
/// 1 while the Litestream child runs with its socket answering.
pub const LITESTREAM_UP: &str = "sqlited_litestream_up";
/// Times the Litestream child was started again after it died.
pub const LITESTREAM_RESTARTS: &str = "sqlited_litestream_restarts_total";
