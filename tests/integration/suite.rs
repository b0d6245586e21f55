// The modules of the integration suite, included by both of its test targets: `main.rs`
// (thread workers) and `processes.rs` (worker processes).

mod admin;
mod batch;
mod connections;
mod cursor;
mod data_dir;
mod database_lifecycle;
mod databases;
mod deadlines;
mod differential;
mod durability;
mod errors;
mod gateway;
mod harness;
mod hostile;
mod hostile_ops;
mod lifecycle;
mod limits;
mod map;
mod metrics;
mod open_modes;
mod ops;
mod params;
mod replication;
mod request_ids;
mod schema_changes;
mod security;
mod server_paths;
mod sessions;
mod statements;
mod streaming;
mod threads;
mod transactions;
mod unix_socket;
mod unsafe_sql;
mod values;
