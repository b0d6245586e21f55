//! Accounts: the SQLite memory each connection holds, as the allocator
//! ([`super::allocator`]) charges it.
//!
//! Each worker owns one connection on one thread, so "the connection that allocates" is "the
//! account of the calling thread": a worker thread opens a [`ThreadAccount`] before its
//! connection and keeps it for its life. Each allocation records its account in its header,
//! so whichever thread frees it (SQLite shares a file's lock state between connections, and
//! frees another connection's cached pages when memory runs short) credits the account that
//! was charged.
//!
//! An account counts two things: `held`, every live byte charged to it (plus one while its
//! worker lives, so the account is freed by whoever releases the last byte — the worker, or a
//! later free on another thread), and `other`, the part that is not purgeable page cache. A
//! request's budget is a ceiling on `other` ([`Ceiling`]): the page cache is bounded already
//! by `--cache-mib` and gives memory back under pressure, while sorts, temporary B-trees,
//! in-memory temporary tables and built values are bounded by nothing else.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering, fence};

/// The SQLite memory of one connection.
#[derive(Debug)]
pub struct Account {
    /// Live bytes charged here, plus one while the owning [`ThreadAccount`] lives.
    held: AtomicUsize,
    /// Live bytes charged here that are not purgeable page cache: what budgets bound.
    other: AtomicUsize,
}

thread_local! {
    /// The account this thread's allocations are charged to (null: none, e.g. the async
    /// runtime's threads, whose SQLite use is the server's own and tiny).
    static CURRENT: Cell<*const Account> = const { Cell::new(ptr::null()) };
    /// The most `other` may reach while a request runs on this thread (`usize::MAX`: none).
    static CEILING: Cell<usize> = const { Cell::new(usize::MAX) };
    /// Raised while SQLite fetches a page into a purgeable page cache ([`super::pcache`]).
    static IN_PAGE_CACHE: Cell<bool> = const { Cell::new(false) };
    /// Raised when the ceiling refused an allocation, so the error can name the budget.
    static REFUSED: Cell<bool> = const { Cell::new(false) };
    /// The most `other` reached on this thread since [`reset_peak`].
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

/// What one allocation was charged to, as its header records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Charge {
    /// Null: charged to no account.
    pub owner: *const Account,
    /// Purgeable page cache: counted in `held` only.
    pub page_cache: bool,
}

impl Charge {
    const NONE: Charge = Charge {
        owner: ptr::null(),
        page_cache: false,
    };
}

/// Charges `bytes` to the calling thread's account, or refuses them (None) when they would
/// take it past its request's ceiling.
pub(super) fn charge(bytes: usize) -> Option<Charge> {
    let owner = CURRENT.try_with(Cell::get).unwrap_or(ptr::null());
    if owner.is_null() {
        return Some(Charge::NONE);
    }
    // SAFETY: the current account lives while its ThreadAccount does, which clears CURRENT
    // before it lets go of it.
    let account = unsafe { &*owner };
    let page_cache = IN_PAGE_CACHE.try_with(Cell::get).unwrap_or(false);
    if !page_cache && bytes > 0 {
        let ceiling = CEILING.try_with(Cell::get).unwrap_or(usize::MAX);
        // Only this thread charges `other`; other threads only credit it, which can only
        // make room, so a refusal here is never spurious.
        let before = account.other.fetch_add(bytes, Ordering::Relaxed);
        let now = before.saturating_add(bytes);
        if now > ceiling {
            account.other.fetch_sub(bytes, Ordering::Relaxed);
            let _ = REFUSED.try_with(|refused| refused.set(true));
            return None;
        }
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    }
    account.held.fetch_add(bytes, Ordering::Relaxed);
    Some(Charge { owner, page_cache })
}

/// What an allocation on the calling thread would be charged to now.
pub(super) fn current() -> Charge {
    let owner = CURRENT.try_with(Cell::get).unwrap_or(ptr::null());
    if owner.is_null() {
        return Charge::NONE;
    }
    Charge {
        owner,
        page_cache: IN_PAGE_CACHE.try_with(Cell::get).unwrap_or(false),
    }
}

/// Gives `bytes` of `charge` back to its account, on whichever thread; frees the account if
/// they were its last and its worker is gone.
///
/// # Safety
/// `charge` must come from [`charge`] for at least `bytes` not yet credited.
pub(super) unsafe fn credit(charge: Charge, bytes: usize) {
    if charge.owner.is_null() {
        return;
    }
    // SAFETY: an account lives while it holds a byte, and these bytes are not credited yet.
    let account = unsafe { &*charge.owner };
    if !charge.page_cache {
        account.other.fetch_sub(bytes, Ordering::Relaxed);
    }
    // SAFETY: as above; `release` may free the account, which nothing touches after.
    unsafe { release(charge.owner, bytes) };
}

/// Takes `bytes` off `held`; frees the account when that was the last of it (the pattern of
/// `Arc`'s drop: release on every decrement, acquire before freeing).
///
/// # Safety
/// `account` must hold at least `bytes`, and must not be used by the caller afterwards.
unsafe fn release(account: *const Account, bytes: usize) -> bool {
    // SAFETY: the caller's bytes keep it alive until this decrement.
    if unsafe { &*account }
        .held
        .fetch_sub(bytes, Ordering::Release)
        != bytes
    {
        return false;
    }
    fence(Ordering::Acquire);
    // SAFETY: nothing is charged to it and its ThreadAccount is gone: no one can reach it.
    drop(unsafe { Box::from_raw(account.cast_mut()) });
    true
}

/// The account of the calling thread while this lives: what SQLite allocates on the thread is
/// charged to it. Not `Send`: it belongs to the thread that opened it.
#[derive(Debug)]
pub struct ThreadAccount {
    account: *const Account,
    /// The thread's account before this one (normally none).
    previous: *const Account,
}

impl ThreadAccount {
    /// Opens an account and makes it the calling thread's.
    pub fn open() -> Self {
        let account = Box::into_raw(Box::new(Account {
            held: AtomicUsize::new(1),
            other: AtomicUsize::new(0),
        }))
        .cast_const();
        let previous = CURRENT.with(|current| current.replace(account));
        Self { account, previous }
    }

    /// Bytes charged to this account and not freed yet, page cache included.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        // SAFETY: our own reference keeps it alive.
        unsafe { &*self.account }.held.load(Ordering::Relaxed) - 1
    }

    /// Bytes charged to this account that are not purgeable page cache.
    #[cfg(test)]
    pub fn other(&self) -> usize {
        // SAFETY: as in `held`.
        unsafe { &*self.account }.other.load(Ordering::Relaxed)
    }
}

impl Drop for ThreadAccount {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|current| current.set(self.previous));
        // SAFETY: the one byte the account was opened with is ours; after this nothing here
        // touches it (memory still charged to it keeps it alive until freed).
        unsafe { release(self.account, 1) };
    }
}

/// The bytes of the calling thread's account that a [`Ceiling`] bounds (None: no account).
pub(crate) fn other_held() -> Option<usize> {
    let owner = CURRENT.try_with(Cell::get).unwrap_or(ptr::null());
    // SAFETY: as in `charge`.
    (!owner.is_null()).then(|| unsafe { &*owner }.other.load(Ordering::Relaxed))
}

/// A ceiling on the calling thread's account while it lives; the previous one comes back
/// when it drops.
#[derive(Debug)]
#[must_use = "the ceiling is lifted when this is dropped"]
pub(crate) struct Ceiling {
    previous: usize,
}

impl Ceiling {
    /// Bounds the non-cache bytes of the thread's account by `bytes` (`usize::MAX`: lifts
    /// the bound, for the server's own maintenance).
    pub fn set(bytes: usize) -> Self {
        let previous = CEILING.with(|ceiling| ceiling.replace(bytes));
        Self { previous }
    }

    /// Whether a ceiling is in force on this thread (a request's, or a transaction's).
    pub fn is_set() -> bool {
        CEILING.with(Cell::get) != usize::MAX
    }
}

impl Drop for Ceiling {
    fn drop(&mut self) {
        let _ = CEILING.try_with(|ceiling| ceiling.set(self.previous));
    }
}

/// Runs `fetch` with its allocations counted as page cache (exempt from ceilings).
pub(super) fn as_page_cache<T>(fetch: impl FnOnce() -> T) -> T {
    let before = IN_PAGE_CACHE.with(|flag| flag.replace(true));
    let result = fetch();
    IN_PAGE_CACHE.with(|flag| flag.set(before));
    result
}

/// Starts a new high-water mark of the thread's account at what it holds now (its non-cache
/// bytes, returned; 0 without an account).
pub(crate) fn reset_peak() -> usize {
    let now = other_held().unwrap_or(0);
    PEAK.with(|peak| peak.set(now));
    now
}

/// The most the thread's account held (non-cache) since [`reset_peak`].
pub(crate) fn peak() -> usize {
    PEAK.with(Cell::get)
}

/// Whether a ceiling refused an allocation on this thread since the last [`clear_refused`].
pub(crate) fn refused() -> bool {
    REFUSED.with(Cell::get)
}

/// Forgets earlier refusals: a request starts.
pub(crate) fn clear_refused() {
    REFUSED.with(|refused| refused.set(false));
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn an_account_is_freed_by_whoever_releases_its_last_byte() {
        let account = Box::into_raw(Box::new(Account {
            held: AtomicUsize::new(1 + 100),
            other: AtomicUsize::new(100),
        }))
        .cast_const();
        // SAFETY: the account holds 101 bytes; the second release takes the last of them.
        unsafe {
            assert!(!release(account, 1), "100 bytes are still charged to it");
            assert!(release(account, 100));
        }
    }

    #[test]
    fn without_an_account_nothing_is_charged_or_refused() {
        let _ceiling = Ceiling::set(0);
        assert_eq!(charge(1 << 20), Some(Charge::NONE));
        assert_eq!(other_held(), None);
    }

    #[test]
    fn page_cache_is_held_but_not_bounded() {
        let account = ThreadAccount::open();
        let _ceiling = Ceiling::set(10);
        assert_eq!(reset_peak(), 0);
        let page = as_page_cache(|| charge(4096)).expect("page cache is not bounded");
        assert!(page.page_cache);
        assert_eq!((account.held(), account.other()), (4096, 0));
        clear_refused();
        assert_eq!(charge(11), None, "past the ceiling");
        assert!(refused());
        let small = charge(10).expect("within the ceiling");
        assert_eq!((account.held(), account.other()), (4106, 10));
        assert_eq!(peak(), 10, "page cache does not count, nor the refused 11");
        // SAFETY: both charges are live and credited once.
        unsafe {
            credit(page, 4096);
            credit(small, 10);
        }
        assert_eq!((account.held(), account.other()), (0, 0));
    }
}
