// The modules of the integration suite that touch the worker seam: included by both test
// targets, `main.rs` (thread workers) and `processes.rs` (worker processes). The others,
// in `suite.rs`, run with thread workers only.
//
// The criterion: a module is here when what it checks is done on the workers' side of the
// seam, so that running the workers in processes could change the answer:
// - the wire itself: every kind of call and its answer, values and parameters, rows in
//   chunks and their flow control, errors of every class (the differential suite compares
//   all of it with SQLite);
// - what a worker is started with: the SQLite settings (`--synchronous`), the sandbox and
//   the authorizer with each request's role, the statements file's checks;
// - what a worker does for a request within its bounds: deadlines and cancellation inside
//   SQLite, memory budgets and caps, result sizes, the write queue in front of the writer;
// - what a worker holds between requests: transactions and their leases, Session streams,
//   cached statements across schema changes, the databases it opened (created, dropped,
//   raced, backed up, checkpointed, restarted, read-only), the writer's reports (metrics,
//   WAL frames for replication);
// - workers dying, restarting and being stopped (`workers`, in `processes.rs` only: its
//   servers start worker processes whatever the target).
// A module whose subject is in front of the seam — connections and the HTTP/2 and HTTP/1
// fronts, the HTTP gateway's translation, health and logs, request ids, the data
// directory's lock, the clients' own surfaces, replication's barrier and restores — is in
// `suite.rs`: with worker processes it would run the same front code over the calls these
// modules already carry. The unit is the module, by its subject; a module whose tests
// straddle the line was split (replication: `cooperation` here, the rest in `suite.rs`).

mod admin;
mod batch;
mod database_lifecycle;
mod databases;
mod deadlines;
mod differential;
mod durability;
mod errors;
mod harness;
mod hostile;
mod lifecycle;
mod limits;
mod maintenance_roles;
mod map;
mod metrics;
mod open_modes;
mod params;
mod replication;
mod schema_changes;
mod security;
mod server_paths;
mod sessions;
mod statements;
mod streaming;
mod transactions;
mod unsafe_sql;
mod values;
