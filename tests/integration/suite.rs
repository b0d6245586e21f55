// The modules of the integration suite in front of the worker seam, run with thread
// workers only (included by `main.rs`, not by `processes.rs`); `seam.rs` says which
// modules run in both targets, and why.

mod connections;
mod cursor;
mod data_dir;
mod gateway;
mod hostile_ops;
mod ops;
/// Replication's own layer, in front of the workers: the barrier sync writes wait at,
/// the machine's loss, generations, an unreachable store, restores. Its files sit in the
/// folder of `replication`, whose `store` they share.
#[path = "replication"]
mod replication_layer {
    mod barrier;
    mod durability;
    mod generations;
    mod outage;
    mod preflight;
    mod restore;
}
mod request_ids;
mod statements_unavailable;
mod threads;
mod unix_socket;
/// `sqlited --version`: no server at all.
mod version;
