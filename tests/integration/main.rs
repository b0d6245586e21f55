//! Integration tests: each starts the real `sqlited` binary on a free port with a temporary
//! data directory and talks to it with the real client. This target runs the suite with
//! thread workers; `processes.rs` runs the same suite with worker processes.

include!("suite.rs");

/// What does not depend on the worker kind, run once (here, not in `integration-processes`).
mod version;
