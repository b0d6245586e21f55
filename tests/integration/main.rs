//! Integration tests: each starts the real `sqlited` binary on a free port with a temporary
//! data directory and talks to it with the real client. This target runs the whole suite
//! with thread workers; `processes.rs` runs the modules that touch the worker seam again
//! with worker processes (`seam.rs` says which, and why).

include!("seam.rs");
include!("suite.rs");
