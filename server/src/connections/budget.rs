//! The bytes of request bodies being buffered: each body's bytes are charged, as they are
//! declared or arrive, to its connection's budget (`--max-body-bytes-per-connection`) and
//! to the process's (`--max-body-bytes-in-flight`, shared by both ports), and handed back
//! once the server holds them no more. A body that would pass either is refused at once
//! (RESOURCE_EXHAUSTED, HTTP 503 with Retry-After), so neither many streams on one
//! connection nor many connections multiply `--max-message-bytes` without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One budget of bytes: a connection's, or the process's.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    used: AtomicUsize,
    /// The flag that sets `limit`, for the refusal's message.
    flag: &'static str,
}

/// Why bytes could not be charged: the flag of the budget that is full, and its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted {
    pub flag: &'static str,
    pub limit: usize,
}

impl Budget {
    /// A budget of `limit` bytes (0: no limit), set by `flag`.
    pub fn new(limit: usize, flag: &'static str) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicUsize::new(0),
            flag,
        })
    }

    /// Takes `n` bytes if they fit.
    fn take(&self, n: usize) -> Result<(), Exhausted> {
        if self.limit == 0 {
            return Ok(());
        }
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|total| *total <= self.limit)
            })
            .map(|_| ())
            .map_err(|_| Exhausted {
                flag: self.flag,
                limit: self.limit,
            })
    }

    fn give_back(&self, n: usize) {
        if self.limit > 0 {
            self.used.fetch_sub(n, Ordering::AcqRel);
        }
    }

    /// Bytes charged now.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// The bytes one request body holds of its connection's budget and the process's; handed
/// back when it drops.
#[derive(Debug)]
pub struct Charge {
    connection: Arc<Budget>,
    process: Arc<Budget>,
    held: usize,
}

impl Charge {
    pub fn new(connection: Arc<Budget>, process: Arc<Budget>) -> Self {
        Self {
            connection,
            process,
            held: 0,
        }
    }

    /// Takes `n` more bytes of both budgets, or none.
    pub fn grow(&mut self, n: usize) -> Result<(), Exhausted> {
        self.connection.take(n)?;
        if let Err(exhausted) = self.process.take(n) {
            self.connection.give_back(n);
            return Err(exhausted);
        }
        self.held += n;
        Ok(())
    }

    /// Hands back `n` of the bytes held (at most all of them).
    pub fn release(&mut self, n: usize) {
        let n = n.min(self.held);
        self.connection.give_back(n);
        self.process.give_back(n);
        self.held -= n;
    }

    /// The bytes held.
    pub fn held(&self) -> usize {
        self.held
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.release(self.held);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn both_budgets_bound_a_charge_and_get_their_bytes_back() {
        let process = Budget::new(100, "--max-body-bytes-in-flight");
        let first = Budget::new(60, "--max-body-bytes-per-connection");
        let second = Budget::new(60, "--max-body-bytes-per-connection");
        let mut a = Charge::new(Arc::clone(&first), Arc::clone(&process));
        a.grow(50).unwrap();
        // The connection's budget is full first.
        let mut b = Charge::new(Arc::clone(&first), Arc::clone(&process));
        assert_eq!(
            b.grow(20).unwrap_err().flag,
            "--max-body-bytes-per-connection"
        );
        // Another connection is bound by what the process has left, and a refusal takes
        // nothing from its connection.
        let mut c = Charge::new(Arc::clone(&second), Arc::clone(&process));
        let refused = c.grow(60).unwrap_err();
        assert_eq!(refused.flag, "--max-body-bytes-in-flight");
        assert_eq!(second.used(), 0);
        c.grow(50).unwrap();
        a.release(20);
        assert_eq!((first.used(), process.used()), (30, 80));
        drop(a);
        drop(c);
        assert_eq!((first.used(), second.used(), process.used()), (0, 0, 0));
        // 0 is no limit.
        let mut free = Charge::new(Budget::new(0, "x"), Budget::new(0, "y"));
        free.grow(usize::MAX).unwrap();
        assert!(b.grow(60).is_ok());
    }
}
