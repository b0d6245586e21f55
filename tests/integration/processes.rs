//! The integration suite again, every server run with `--workers processes` (the harness
//! tells the targets apart by their crate name): everything a client sees must be the same.

include!("suite.rs");

/// What only worker processes do: die alone.
mod workers;
