//! What one request may take (`--request-memory-limit`): a ceiling on the SQLite memory its
//! connection may gain while it runs — sorts, temporary B-trees (DISTINCT, UNION, GROUP BY,
//! window partitions), in-memory temporary tables, the values it builds or binds, a write's
//! statement journal (the old content of the pages it changes) — beyond the page cache,
//! which `--cache-mib` bounds already. An interactive transaction is one request: its
//! statements share one budget, so TEMP tables cannot grow it statement by statement.
//!
//! Requests a database's writer runs have a budget of their own (`--write-memory-limit`),
//! larger by default: a database has one writer, running one request at a time, so a larger
//! budget there does not multiply with the readers, and writes need it — an UPDATE's
//! statement journal holds every page it changes, an index build sorts the whole index.

use super::account::{self, Ceiling};

/// The budgets of one request, in bytes, by the connection that runs it (0: no limit but
/// the process-wide one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryBudgets {
    /// On a reader: reads, read-only transactions (`--request-memory-limit`).
    pub reader: u64,
    /// On the writer: writes, write transactions, schema changes (`--write-memory-limit`).
    pub writer: u64,
}

/// One connection's budget per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestMemory {
    /// Bytes one request may add; 0: no limit but the process-wide one.
    limit: u64,
    /// The flag that sets it, for the error's advice.
    flag: &'static str,
}

impl RequestMemory {
    /// The budget of a request on a writer's connection (`writer`) or a reader's.
    pub fn new(budgets: MemoryBudgets, writer: bool) -> Self {
        if writer {
            Self {
                limit: budgets.writer,
                flag: "--write-memory-limit",
            }
        } else {
            Self {
                limit: budgets.reader,
                flag: "--request-memory-limit",
            }
        }
    }

    /// Starts a request on the calling thread's connection: until the budget drops, what
    /// SQLite allocates on this thread beyond `limit` bytes more than it holds now is refused
    /// (SQLITE_NOMEM). Inside a transaction's budget, the transaction's holds instead.
    pub fn start(&self) -> RequestBudget {
        account::clear_refused();
        if Ceiling::is_set() {
            return RequestBudget::NESTED;
        }
        let held = account::reset_peak();
        let ceiling = (self.limit > 0 && account::other_held().is_some()).then(|| {
            let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
            Ceiling::set(held.saturating_add(limit))
        });
        RequestBudget {
            _ceiling: ceiling,
            start: Some(held),
        }
    }

    /// What a client is told of a statement stopped by SQLITE_NOMEM: which limit it reached
    /// and how to raise it.
    pub fn advice(&self) -> String {
        if account::refused() {
            format!(
                "the request needed more memory than one request may use on this server \
                 ({} MiB: {flag}), for sorts, DISTINCT, UNION, GROUP BY or window partitions, \
                 temporary tables, the values it builds or the pages a write changes; it was \
                 stopped and nothing it wrote was kept. Sort, group or join less at once, add \
                 a LIMIT, change fewer rows per statement, or ask the operator to raise {flag}",
                self.limit.div_ceil(1 << 20),
                flag = self.flag,
            )
        } else {
            "the statement needed more memory than SQLite may use on this server \
             (--sqlite-memory-limit, or --worker-memory-limit for worker processes); it was \
             stopped and nothing it wrote was kept. Sort, group or join less at once, or add \
             a LIMIT"
                .into()
        }
    }
}

/// A request's budget while it runs; dropping it lifts the ceiling.
#[derive(Debug)]
#[must_use = "the budget ends when this is dropped"]
pub struct RequestBudget {
    _ceiling: Option<Ceiling>,
    /// What the account held at the start (None: inside an outer budget, which ends it).
    start: Option<usize>,
}

impl RequestBudget {
    const NESTED: RequestBudget = RequestBudget {
        _ceiling: None,
        start: None,
    };
}

/// A request whose temporary data grew past this gives the freed memory back to the system
/// when it ends. Without it glibc keeps each worker thread's freed blocks in that thread's
/// arena, so every reader ends up holding its largest request for good: one client's
/// hostile queries, served in turn by 8 readers, took the server from 43 to 197 MiB under a
/// 32 MiB budget (`bench/memory.py --clients 1 --workload hostile-temp`, `--readers 8`).
const TRIM_AFTER: usize = 4 << 20;

impl Drop for RequestBudget {
    fn drop(&mut self) {
        if let Some(start) = self.start
            && account::peak().saturating_sub(start) >= TRIM_AFTER
        {
            give_back_freed_memory();
        }
    }
}

/// Returns the allocator's free pages to the system (glibc's `malloc_trim`, every arena).
pub fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs `work` — the server's own maintenance (VACUUM rebuilds the whole database in
/// memory, a backup's snapshot) — under the process-wide cap only.
pub fn unbudgeted<T>(work: impl FnOnce() -> T) -> T {
    let _lifted = Ceiling::set(usize::MAX);
    work()
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::memory::account::ThreadAccount;

    fn budgets(reader: u64) -> MemoryBudgets {
        MemoryBudgets { reader, writer: 0 }
    }

    #[test]
    fn a_request_gets_its_budget_on_top_of_what_its_connection_holds() {
        let _account = ThreadAccount::open();
        let budget = RequestMemory::new(budgets(1 << 20), false);
        let before = account::other_held();
        {
            let _request = budget.start();
            assert!(Ceiling::is_set());
            {
                let _nested = budget.start();
                assert!(
                    Ceiling::is_set(),
                    "a statement inside keeps the transaction's"
                );
            }
            assert!(
                Ceiling::is_set(),
                "the inner start left the outer ceiling alone"
            );
            unbudgeted(|| assert!(!Ceiling::is_set()));
            assert!(Ceiling::is_set());
        }
        assert!(!Ceiling::is_set());
        assert_eq!(account::other_held(), before);
        let unlimited = RequestMemory::new(budgets(0), false).start();
        assert!(!Ceiling::is_set(), "0: no budget");
        assert!(unlimited.start.is_some(), "but still a request of its own");
    }

    #[test]
    fn the_advice_names_the_limit_that_was_reached() {
        let _account = ThreadAccount::open();
        let budgets = MemoryBudgets {
            reader: 32 << 20,
            writer: 256 << 20,
        };
        for (writer, named) in [
            (false, "32 MiB: --request-memory-limit"),
            (true, "256 MiB: --write-memory-limit"),
        ] {
            let budget = RequestMemory::new(budgets, writer);
            let _request = budget.start();
            assert!(budget.advice().contains("--sqlite-memory-limit"));
            assert!(account::charge(257 << 20).is_none());
            let advice = budget.advice();
            assert!(advice.contains(named), "{advice}");
        }
    }
}
