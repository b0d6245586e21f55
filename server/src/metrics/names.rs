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
