//! SQLite's allocator (`SQLITE_CONFIG_MALLOC`), wrapped so that every allocation is charged
//! to the account of the connection that made it ([`super::account`]), and refused — NULL,
//! which SQLite answers with SQLITE_NOMEM — past the running request's budget.
//!
//! Each block is the C allocator's, with a 16-byte header in front (keeping malloc's 16-byte
//! alignment; SQLite needs 8): its size, which SQLite asks back through `xSize`, and the
//! charge, so a free on any thread credits the account that paid. SQLite's own accounting
//! (the process-wide cap, `--sqlite-memory-limit`) runs above this and still holds.
//!
//! The methods must be in place before SQLite initializes, which the first connection (or
//! `sqlite3_hard_heap_limit64`) does: [`install`] is the binary's first act, in the server
//! and in every worker process.

use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

use rusqlite::ffi;

use super::account::{self, Charge};

/// Bytes in front of each block.
const HEADER: usize = 16;

/// What a block's header records.
#[repr(C)]
struct Header {
    owner: *const account::Account,
    /// SQLite's sizes are `int`s.
    size: u32,
    page_cache: u32,
}

const _: () = assert!(std::mem::size_of::<Header>() <= HEADER);

impl Header {
    fn charge(&self) -> Charge {
        Charge {
            owner: self.owner,
            page_cache: self.page_cache != 0,
        }
    }
}

/// Puts the accounting allocator and page cache ([`super::pcache`]) under SQLite. Call it
/// before anything else touches SQLite; later calls answer as the first did.
///
/// # Errors
/// SQLite was initialized already (SQLITE_MISUSE): its allocator can no longer change, and
/// no request would have a memory budget.
pub fn install() -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let methods = ffi::sqlite3_mem_methods {
                xMalloc: Some(x_malloc),
                xFree: Some(x_free),
                xRealloc: Some(x_realloc),
                xSize: Some(x_size),
                xRoundup: Some(x_roundup),
                xInit: Some(x_init),
                xShutdown: Some(x_shutdown),
                pAppData: ptr::null_mut(),
            };
            // SAFETY: SQLite copies the methods before returning; they stay valid for the
            // life of the process. sqlite3_config is called before any other SQLite call.
            let rc = unsafe {
                ffi::sqlite3_config(
                    ffi::SQLITE_CONFIG_MALLOC,
                    &methods as *const ffi::sqlite3_mem_methods,
                )
            };
            if rc != ffi::SQLITE_OK {
                return Err(format!(
                    "SQLite's allocator could not be replaced (result code {rc}): SQLite was \
                     already initialized"
                ));
            }
            super::pcache::install()
        })
        .clone()
}

/// The header of the block SQLite knows as `p`.
///
/// # Safety
/// `p` must have come from [`x_malloc`] or [`x_realloc`] and not be freed.
unsafe fn header(p: *mut c_void) -> *mut Header {
    // SAFETY: every block we hand out sits HEADER bytes into a C allocation.
    unsafe { p.cast::<u8>().sub(HEADER).cast::<Header>() }
}

/// Writes the header at the start of C allocation `block`; what SQLite gets.
///
/// # Safety
/// `block` must be a live C allocation of at least `HEADER + size` bytes.
unsafe fn hand_out(block: *mut c_void, charge: Charge, size: usize) -> *mut c_void {
    let header = Header {
        owner: charge.owner,
        size: size as u32,
        page_cache: u32::from(charge.page_cache),
    };
    // SAFETY: the block starts with HEADER bytes of our own, 16-aligned by malloc.
    unsafe {
        block.cast::<Header>().write(header);
        block.cast::<u8>().add(HEADER).cast()
    }
}

pub(super) unsafe extern "C" fn x_malloc(n: c_int) -> *mut c_void {
    let Ok(size) = usize::try_from(n) else {
        return ptr::null_mut();
    };
    let Some(charge) = account::charge(size) else {
        return ptr::null_mut();
    };
    // SAFETY: a plain C allocation; on success the header is written into it.
    unsafe {
        let block = libc::malloc(HEADER + size);
        if block.is_null() {
            account::credit(charge, size);
            return ptr::null_mut();
        }
        hand_out(block, charge, size)
    }
}

pub(super) unsafe extern "C" fn x_free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: SQLite frees only what x_malloc / x_realloc gave it, once.
    unsafe {
        let header = header(p);
        let old = header.read();
        libc::free(header.cast());
        account::credit(old.charge(), old.size as usize);
    }
}

/// SQLite calls it with a live block and `n > 0` (a NULL block or size 0 never reach it).
/// The block's charge moves to the calling thread's account: on the same account only a
/// growth is charged (a shrink is never refused); on another, the new size is charged and
/// the old one credited to its payer once the move succeeded. A refused or failed growth
/// leaves the old block as it was.
pub(super) unsafe extern "C" fn x_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    let Ok(size) = usize::try_from(n) else {
        return ptr::null_mut();
    };
    // SAFETY: `p` is a live block of ours (SQLite's contract); the header is read before
    // realloc may free it.
    let old = unsafe { header(p).read() };
    let (old_charge, old_size) = (old.charge(), old.size as usize);
    let same = account::current() == old_charge;
    let charged = if same {
        size.saturating_sub(old_size)
    } else {
        size
    };
    let Some(charge) = account::charge(charged) else {
        return ptr::null_mut();
    };
    // SAFETY: realloc of the C allocation behind `p`; on failure it is left untouched.
    unsafe {
        let block = libc::realloc(header(p).cast(), HEADER + size);
        if block.is_null() {
            account::credit(charge, charged);
            return ptr::null_mut();
        }
        if same {
            account::credit(old_charge, old_size.saturating_sub(size));
        } else {
            account::credit(old_charge, old_size);
        }
        hand_out(block, charge, size)
    }
}

unsafe extern "C" fn x_size(p: *mut c_void) -> c_int {
    if p.is_null() {
        return 0;
    }
    // SAFETY: `p` is a live block of ours; sizes come from a c_int.
    unsafe { (*header(p)).size as c_int }
}

/// SQLite's own rounding (to 8 bytes), so its statistics match what it asked for.
unsafe extern "C" fn x_roundup(n: c_int) -> c_int {
    n.saturating_add(7) & !7
}

unsafe extern "C" fn x_init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_shutdown(_: *mut c_void) {}

#[cfg(test)]
mod test {
    use super::*;
    use crate::memory::account::{Ceiling, ThreadAccount, clear_refused, refused};

    #[test]
    fn a_free_on_another_thread_credits_the_account_that_paid() {
        let account = ThreadAccount::open();
        // SAFETY: blocks of ours, each freed once.
        let block = unsafe { x_malloc(1000) } as usize;
        assert_eq!(account.held(), 1000);
        std::thread::spawn(move || {
            let _theirs = ThreadAccount::open();
            // SAFETY: as above.
            unsafe { x_free(block as *mut c_void) };
        })
        .join()
        .unwrap();
        assert_eq!((account.held(), account.other()), (0, 0));
    }

    #[test]
    fn a_block_outlives_the_worker_that_paid_for_it() {
        let block = std::thread::spawn(|| {
            let _account = ThreadAccount::open();
            // SAFETY: a block of ours, freed once below.
            unsafe { x_malloc(64) as usize }
        })
        .join()
        .unwrap();
        // Its account is gone from its thread, still alive for this free, which frees it.
        // SAFETY: as above.
        unsafe { x_free(block as *mut c_void) };
    }

    #[test]
    fn realloc_moves_the_charge_and_a_refused_growth_keeps_the_block() {
        let account = ThreadAccount::open();
        // SAFETY: blocks of ours, each freed once.
        unsafe {
            let block = x_malloc(100);
            block.cast::<u8>().write_bytes(7, 100);
            let grown = x_realloc(block, 300);
            assert_eq!(x_size(grown), 300);
            assert_eq!(account.held(), 300);
            let tight = Ceiling::set(account.other());
            let smaller = x_realloc(grown, 250);
            assert!(!smaller.is_null(), "a shrink is never refused");
            let back = x_realloc(smaller, 300);
            assert!(!back.is_null(), "back within the ceiling");
            let _tighter = Ceiling::set(account.other());
            assert!(x_realloc(back, 301).is_null(), "no room left for growth");
            drop(_tighter);
            drop(tight);
            let grown = back;
            assert_eq!(*grown.cast::<u8>().add(99), 7, "the content moved with it");

            let _ceiling = Ceiling::set(account.other() + 100);
            clear_refused();
            assert!(x_realloc(grown, 1000).is_null(), "past the ceiling");
            assert!(refused());
            assert_eq!(x_size(grown), 300, "the old block stands");
            assert_eq!(*grown.cast::<u8>().add(99), 7);
            let shrunk = x_realloc(grown, 50) as usize;
            assert_eq!((account.held(), x_size(shrunk as *mut c_void)), (50, 50));

            // Grown on another worker's thread: that worker pays from then on.
            let moved = std::thread::spawn(move || {
                let theirs = ThreadAccount::open();
                let moved = x_realloc(shrunk as *mut c_void, 80) as usize;
                assert_eq!(theirs.held(), 80);
                moved
            })
            .join()
            .unwrap();
            assert_eq!(account.held(), 0);
            x_free(moved as *mut c_void);
        }
    }

    #[test]
    fn a_ceiling_bounds_mallocs_until_it_is_lifted() {
        let account = ThreadAccount::open();
        // SAFETY: blocks of ours, each freed once.
        unsafe {
            let ceiling = Ceiling::set(account.other() + 4096);
            let fits = x_malloc(4000);
            assert!(!fits.is_null());
            assert!(
                x_malloc(200).is_null(),
                "4,200 bytes past a 4,096-byte budget"
            );
            drop(ceiling);
            let free = x_malloc(1 << 20);
            assert!(!free.is_null(), "no ceiling: no budget");
            x_free(fits);
            x_free(free);
        }
        assert_eq!(account.held(), 0);
    }
}
