//! The modules of the integration suite that touch the worker seam (`seam.rs` says which,
//! and why), every server run with `--workers processes` (the harness tells the targets
//! apart by their crate name): everything a client sees must be the same as with threads.

// The helpers only the threads target's own modules use are unused here; that target
// compiles every module, and its build finds the helpers no module uses.
#![allow(dead_code)]

include!("seam.rs");

/// What only worker processes do: die alone.
mod workers;
