//! SQLite's memory, bounded twice: per request (`--request-memory-limit`, and
//! `--write-memory-limit` for what a database's writer runs) and for the whole
//! process (`--sqlite-memory-limit`, the backstop). A query that sorts, groups or builds more
//! than it may fails with RESOURCE_EXHAUSTED (SQLITE_NOMEM) instead of taking the machine's
//! memory, and the server goes on serving everyone else.
//!
//! Temporary data lives in memory ([`crate::worker::safety`]: `temp_store=MEMORY`), so both
//! bounds hold for temporary storage too.
//!
//! Layout:
//! - `allocator.rs`: SQLite's allocator wrapped (`SQLITE_CONFIG_MALLOC`): each block charged
//!   to the connection that made it, refused past its request's budget; [`install`].
//! - `pcache.rs`: SQLite's page cache wrapped, only to mark its purgeable pages, which are
//!   held but not budgeted (`--cache-mib` bounds them).
//! - `account.rs`: accounts (one per worker thread, so per connection), the thread's
//!   ceiling, and how a free on another thread credits the account that paid.
//! - `budget.rs`: a request's budget ([`RequestMemory`]), the errors' advice, and the freed
//!   memory of a large request handed back to the system when it ends.
//! - `heap.rs`: the process-wide cap on SQLite's heap, and its default.

mod account;
mod allocator;
mod budget;
mod heap;
mod pcache;

pub use account::ThreadAccount;
pub use allocator::install;
pub use budget::{MemoryBudgets, RequestBudget, RequestMemory, give_back_freed_memory, unbudgeted};
pub use heap::{default_heap_limit, limit_sqlite_heap};
