//! SQLite's page cache (`SQLITE_CONFIG_PCACHE2`), wrapped only to tell the allocator which
//! allocations are purgeable page cache: pages of a database file, bounded per connection by
//! `--cache-mib` and given back under memory pressure. Those are held by the connection's
//! account but exempt from its request's budget, so a cold reader filling its cache is never
//! refused. Caches that cannot purge — in-memory temporary tables, and the ephemeral B-trees
//! of DISTINCT, UNION, GROUP BY and window partitions with `temp_store=MEMORY` — are charged
//! like any other memory.
//!
//! Every method forwards to SQLite's own page cache (pcache1), which keeps working exactly as
//! before, `sqlite3_release_memory` included.

use std::ffi::{c_int, c_uint, c_void};
use std::ptr;
use std::sync::OnceLock;

use rusqlite::ffi;

use super::account;

/// SQLite's own page cache's methods, which every method here forwards to.
struct Inner {
    arg: *mut c_void,
    init: unsafe extern "C" fn(*mut c_void) -> c_int,
    shutdown: Option<unsafe extern "C" fn(*mut c_void)>,
    create: unsafe extern "C" fn(c_int, c_int, c_int) -> *mut ffi::sqlite3_pcache,
    cachesize: unsafe extern "C" fn(*mut ffi::sqlite3_pcache, c_int),
    pagecount: unsafe extern "C" fn(*mut ffi::sqlite3_pcache) -> c_int,
    fetch: unsafe extern "C" fn(*mut ffi::sqlite3_pcache, c_uint, c_int) -> *mut Page,
    unpin: unsafe extern "C" fn(*mut ffi::sqlite3_pcache, *mut Page, c_int),
    rekey: unsafe extern "C" fn(*mut ffi::sqlite3_pcache, *mut Page, c_uint, c_uint),
    truncate: unsafe extern "C" fn(*mut ffi::sqlite3_pcache, c_uint),
    destroy: unsafe extern "C" fn(*mut ffi::sqlite3_pcache),
    shrink: Option<unsafe extern "C" fn(*mut ffi::sqlite3_pcache)>,
}

type Page = ffi::sqlite3_pcache_page;

// SAFETY: function pointers and pcache1's argument (null), shared read-only once set.
unsafe impl Send for Inner {}
// SAFETY: as above.
unsafe impl Sync for Inner {}

static INNER: OnceLock<Inner> = OnceLock::new();

/// One cache as SQLite sees it: pcache1's, and whether it may purge.
struct Cache {
    inner: *mut ffi::sqlite3_pcache,
    purgeable: bool,
}

/// Wraps SQLite's page cache; called by [`super::allocator::install`], before SQLite
/// initializes.
pub(super) fn install() -> Result<(), String> {
    // SAFETY: an all-zero sqlite3_pcache_methods2 is valid (no methods, null argument).
    let mut inner: ffi::sqlite3_pcache_methods2 = unsafe { std::mem::zeroed() };
    // SAFETY: both calls copy a methods struct, before SQLite initializes.
    let rc = unsafe {
        ffi::sqlite3_config(
            ffi::SQLITE_CONFIG_GETPCACHE2,
            &mut inner as *mut ffi::sqlite3_pcache_methods2,
        )
    };
    let missing = || format!("SQLite's page cache could not be read (result code {rc})");
    if rc != ffi::SQLITE_OK {
        return Err(missing());
    }
    let _ = INNER.set(Inner {
        arg: inner.pArg,
        init: inner.xInit.ok_or_else(missing)?,
        shutdown: inner.xShutdown,
        create: inner.xCreate.ok_or_else(missing)?,
        cachesize: inner.xCachesize.ok_or_else(missing)?,
        pagecount: inner.xPagecount.ok_or_else(missing)?,
        fetch: inner.xFetch.ok_or_else(missing)?,
        unpin: inner.xUnpin.ok_or_else(missing)?,
        rekey: inner.xRekey.ok_or_else(missing)?,
        truncate: inner.xTruncate.ok_or_else(missing)?,
        destroy: inner.xDestroy.ok_or_else(missing)?,
        shrink: inner.xShrink,
    });
    let methods = ffi::sqlite3_pcache_methods2 {
        iVersion: 1,
        pArg: ptr::null_mut(),
        xInit: Some(x_init),
        xShutdown: Some(x_shutdown),
        xCreate: Some(x_create),
        xCachesize: Some(x_cachesize),
        xPagecount: Some(x_pagecount),
        xFetch: Some(x_fetch),
        xUnpin: Some(x_unpin),
        xRekey: Some(x_rekey),
        xTruncate: Some(x_truncate),
        xDestroy: Some(x_destroy),
        xShrink: Some(x_shrink),
    };
    // SAFETY: as above.
    let rc = unsafe {
        ffi::sqlite3_config(
            ffi::SQLITE_CONFIG_PCACHE2,
            &methods as *const ffi::sqlite3_pcache_methods2,
        )
    };
    if rc != ffi::SQLITE_OK {
        return Err(format!(
            "SQLite's page cache could not be wrapped (result code {rc})"
        ));
    }
    Ok(())
}

/// SQLite's page cache. Set by `install` before SQLite can call any method here: SQLite
/// calls none before it initializes, and `install` runs before that.
fn inner() -> &'static Inner {
    INNER
        .get()
        .unwrap_or_else(|| unreachable!("SQLite called a page cache method before install"))
}

/// The wrapped cache behind SQLite's handle.
///
/// # Safety
/// `cache` must come from [`x_create`] and not be destroyed.
unsafe fn cache<'a>(cache: *mut ffi::sqlite3_pcache) -> &'a Cache {
    // SAFETY: x_create hands out boxed Caches only.
    unsafe { &*cache.cast::<Cache>() }
}

// Each method below forwards to pcache1's with the arguments SQLite gave, so each `unsafe`
// block keeps SQLite's contract for the method it forwards; `cache(p)` is sound because SQLite
// passes only handles x_create made and x_destroy has not freed.

unsafe extern "C" fn x_init(_: *mut c_void) -> c_int {
    let inner = inner();
    // SAFETY: see above.
    unsafe { (inner.init)(inner.arg) }
}

unsafe extern "C" fn x_shutdown(_: *mut c_void) {
    let inner = inner();
    if let Some(shutdown) = inner.shutdown {
        // SAFETY: see above.
        unsafe { shutdown(inner.arg) }
    }
}

unsafe extern "C" fn x_create(
    page_size: c_int,
    extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    // SAFETY: see above.
    let created = unsafe { (inner().create)(page_size, extra, purgeable) };
    if created.is_null() {
        return ptr::null_mut();
    }
    Box::into_raw(Box::new(Cache {
        inner: created,
        purgeable: purgeable != 0,
    }))
    .cast()
}

unsafe extern "C" fn x_cachesize(p: *mut ffi::sqlite3_pcache, pages: c_int) {
    // SAFETY: see above.
    unsafe { (inner().cachesize)(cache(p).inner, pages) }
}

unsafe extern "C" fn x_pagecount(p: *mut ffi::sqlite3_pcache) -> c_int {
    // SAFETY: see above.
    unsafe { (inner().pagecount)(cache(p).inner) }
}

unsafe extern "C" fn x_fetch(p: *mut ffi::sqlite3_pcache, key: c_uint, create: c_int) -> *mut Page {
    let fetch = inner().fetch;
    // SAFETY: see above.
    let cache = unsafe { cache(p) };
    if cache.purgeable {
        // SAFETY: see above.
        account::as_page_cache(|| unsafe { fetch(cache.inner, key, create) })
    } else {
        // SAFETY: see above.
        unsafe { fetch(cache.inner, key, create) }
    }
}

unsafe extern "C" fn x_unpin(p: *mut ffi::sqlite3_pcache, page: *mut Page, discard: c_int) {
    // SAFETY: see above.
    unsafe { (inner().unpin)(cache(p).inner, page, discard) }
}

unsafe extern "C" fn x_rekey(
    p: *mut ffi::sqlite3_pcache,
    page: *mut Page,
    old: c_uint,
    new: c_uint,
) {
    // SAFETY: see above.
    unsafe { (inner().rekey)(cache(p).inner, page, old, new) }
}

unsafe extern "C" fn x_truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    // SAFETY: see above.
    unsafe { (inner().truncate)(cache(p).inner, limit) }
}

unsafe extern "C" fn x_destroy(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: SQLite destroys each cache once; the box is ours from x_create.
    let cache = unsafe { Box::from_raw(p.cast::<Cache>()) };
    // SAFETY: see above.
    unsafe { (inner().destroy)(cache.inner) }
}

unsafe extern "C" fn x_shrink(p: *mut ffi::sqlite3_pcache) {
    if let Some(shrink) = inner().shrink {
        // SAFETY: see above.
        unsafe { shrink(cache(p).inner) }
    }
}
