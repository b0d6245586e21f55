//! Integration tests: each starts the real `sqlited` binary on a free port with a temporary
//! data directory and talks to it with the real client.

mod admin;
mod batch;
mod cursor;
mod deadlines;
mod durability;
mod errors;
mod harness;
mod lifecycle;
mod limits;
mod map;
mod metrics;
mod ops;
mod params;
mod security;
mod statements;
mod streaming;
mod threads;
mod transactions;
mod values;
