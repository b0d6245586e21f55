//! Opening a worker's SQLite connection: WAL mode, pragmas, the statement cache, and an
//! authorizer that keeps transaction control in the server's hands and enforces the SQL
//! sandbox and each request's access ([`super::sandbox`]); and putting the connection back
//! as it was after each request ([`super::request_state`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{CachedStatement, Connection, OpenFlags};

use super::Role;
use super::cancel::{CHECK_EVERY_OPS, CancelToken, Running};
use super::request_state::{Baseline, Leftovers};
use super::sandbox::{self, Asking, attach::AttachRule};
use super::schema_probe::SchemaObject;
use super::statement_cache::{CacheBound, Verdict};
use crate::auth::Access;
use crate::error::{Error, Result};
use crate::sql::text;

/// `PRAGMA synchronous` for the writer: how hard a COMMIT waits for the disk. A prost
/// enumeration (numbered as SQLite numbers the levels), as a worker process is told it; its
/// first variant is its `Default`, hence `Full` first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, prost::Enumeration)]
pub enum Synchronous {
    /// fsync on every commit: an acknowledged write survives power loss (the default).
    Full = 2,
    /// No fsync: fast, and a power loss can lose or corrupt recent transactions.
    Off = 0,
    /// In WAL mode: durable against a crash of sqlited, but a power loss may lose the last
    /// transactions (never corrupts).
    Normal = 1,
    /// Like full, and also syncs the directory after the WAL is reset.
    Extra = 3,
}

impl std::str::FromStr for Synchronous {
    type Err = String;

    /// `off`, `normal`, `full` or `extra`, in any case (the flag's values).
    fn from_str(value: &str) -> std::result::Result<Self, String> {
        match value.to_ascii_lowercase().as_str() {
            "off" => Ok(Self::Off),
            "normal" => Ok(Self::Normal),
            "full" => Ok(Self::Full),
            "extra" => Ok(Self::Extra),
            _ => Err(format!(
                "{value:?} is not a synchronous level: use off, normal, full or extra"
            )),
        }
    }
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
            Synchronous::Extra => "EXTRA",
        }
    }
}

/// How every connection of a database is opened.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// The database file.
    pub path: PathBuf,
    /// `PRAGMA synchronous` of the writer.
    pub synchronous: Synchronous,
    /// How long SQLite retries a locked database before answering SQLITE_BUSY.
    pub busy_timeout: Duration,
    /// Prepared statements kept per connection.
    pub statement_cache: usize,
    /// The most bytes the client's statements kept in a connection's statement cache may
    /// hold (0: no byte bound): [`super::statement_cache`].
    pub statement_cache_bytes: usize,
    /// The page cache of each connection, in KiB (`PRAGMA cache_size`).
    pub cache_kib: u32,
    /// Whether the SQL sandbox is on (off only with `--unsafe-sql`).
    pub sandbox: bool,
    /// The largest string, blob or row SQLite may build (`SQLITE_LIMIT_LENGTH`): the
    /// largest message the server sends.
    pub max_value_bytes: usize,
    /// Litestream replicates the database (`--replica-url`): the writer never checkpoints
    /// on its own (`wal_autocheckpoint=0`), its close-time checkpoint is PASSIVE, and no
    /// client statement, admin included, touches Litestream's `_litestream_*` tables.
    pub replicated: bool,
    /// The SQLite memory one request may add beyond the page cache, on a reader and on the
    /// writer (`--request-memory-limit`, `--write-memory-limit`).
    pub request_memory: crate::memory::MemoryBudgets,
}

/// Lets the server's own transaction statements through the authorizer, and remembers why
/// a client's statement was refused.
#[derive(Debug, Default)]
struct Gate {
    internal: AtomicBool,
    /// Which transaction control the last statement was refused for ([`Control`] as u8).
    refused_control: AtomicU8,
    /// The running task's access (`Access::as_u8`; 0: admin).
    access: AtomicU8,
    sandbox: bool,
    /// Litestream's tables are off limits (`ConnectionSettings::replicated`).
    replicated: bool,
    /// Why the last statement was refused, other than for transaction control.
    refusal: Mutex<Option<String>>,
    /// Raised while an interactive transaction runs: the only place TEMP objects may be made
    /// (they are dropped when it ends).
    interactive: AtomicBool,
    /// Raised while an interactive transaction runs a lone statement (Execute): the only
    /// place SAVEPOINT, RELEASE and ROLLBACK TO may run. A batch or a query wraps its work
    /// in a savepoint of the server's own, which a client's RELEASE would end.
    savepoints: AtomicBool,
    /// Raised when a TEMP object was allowed, so the transaction's end knows to drop it.
    made_temp: AtomicBool,
    /// Raised while a client's statement is being prepared ([`Sqlite::prepare`]): the
    /// actions reported then are the client's, the others SQLite's or a module's own (see
    /// the sandbox's "Whose work an action is").
    preparing: AtomicBool,
    /// Raised while the server prepares a probe of a new schema object
    /// ([`super::schema_probe`]): only the functions no schema may call are refused.
    probing: AtomicBool,
    /// The running task may ATTACH (`CancelToken::may_attach`; with `--unsafe-sql`).
    may_attach: AtomicBool,
    /// The data directory, canonical, for ATTACH's rule (`None` in the sandbox).
    data_dir: Option<PathBuf>,
    /// What the running request changed on the connection, to undo at its end.
    leftovers: Leftovers,
    /// The objects the statement being prepared creates or alters, to probe once it ran.
    creates: Mutex<Vec<SchemaObject>>,
    /// The statement being prepared must not be cached: it attaches a database, or creates
    /// objects to probe (a cached statement is not authorized again, so neither would be
    /// checked the next time).
    uncached: AtomicBool,
}

/// A flag raised for as long as it lives, then put back as it was (so a nested raise does
/// not lower it early).
struct Raised<'a> {
    flag: &'a AtomicBool,
    before: bool,
}

impl<'a> Raised<'a> {
    fn new(flag: &'a AtomicBool) -> Self {
        let before = flag.swap(true, Ordering::Relaxed);
        Self { flag, before }
    }
}

impl Drop for Raised<'_> {
    fn drop(&mut self) {
        self.flag.store(self.before, Ordering::Relaxed);
    }
}

/// A client's statement, prepared under the authorizer ([`Sqlite::prepare`]).
pub struct ClientStatement<'conn> {
    /// `None` only while dropping.
    stmt: Option<CachedStatement<'conn>>,
    /// The schema objects it creates or alters, to probe once it ran.
    pub creates: Vec<SchemaObject>,
    /// Not put back into the statement cache when dropped.
    uncached: bool,
    /// Its key in the statement cache.
    key: String,
    /// The connection, whose cache's byte bound judges it as it ends.
    owner: &'conn Sqlite,
}

impl<'conn> std::ops::Deref for ClientStatement<'conn> {
    type Target = rusqlite::Statement<'conn>;

    fn deref(&self) -> &Self::Target {
        self.stmt.as_ref().expect("a statement until dropped")
    }
}

impl std::ops::DerefMut for ClientStatement<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.stmt.as_mut().expect("a statement until dropped")
    }
}

impl Drop for ClientStatement<'_> {
    fn drop(&mut self) {
        let Some(stmt) = self.stmt.take() else {
            return;
        };
        if self.uncached {
            stmt.discard();
            return;
        }
        let memused = usize::try_from(stmt.get_status(rusqlite::StatementStatus::MemUsed))
            .unwrap_or_default();
        match self.owner.cache_bound.returning(&self.key, memused) {
            Verdict::Keep => drop(stmt),
            Verdict::TooLarge => stmt.discard(),
            Verdict::Full => {
                drop(stmt);
                self.owner.conn.flush_prepared_statement_cache();
                self.owner.cache_bound.emptied();
                crate::memory::give_back_freed_memory();
            }
        }
    }
}

/// An open connection with its role.
pub struct Sqlite {
    conn: Connection,
    gate: Arc<Gate>,
    role: Role,
    /// The token of the running task, checked by the progress handler.
    running: Arc<Running>,
    /// `SQLITE_LIMIT_LENGTH`, for the message of a value that reached it.
    max_value_bytes: usize,
    /// The schema version this connection last read on purpose ([`Sqlite::refresh_schema`]).
    schema_seen: std::cell::Cell<Option<i64>>,
    /// Litestream replicates the database: the close-time checkpoint is PASSIVE.
    replicated: bool,
    /// The connection settings as opened, which a request may change with `--unsafe-sql`
    /// and which are restored at its end (`None` in the sandbox, where none can change).
    baseline: Option<Baseline>,
    /// What one request may take of SQLite's memory.
    memory: crate::memory::RequestMemory,
    /// What the statement cache may keep of the client's statements, in bytes.
    cache_bound: CacheBound,
}

impl Sqlite {
    /// Opens the connection for `role`. The writer creates the file and turns on WAL mode;
    /// readers open read-only, so they cannot write by any route.
    pub fn open(settings: &ConnectionSettings, role: Role) -> Result<Self> {
        // NOFOLLOW: SQLite refuses a path that resolves through a symbolic link, and so does
        // every ATTACH (it opens with the connection's flags). No SQLITE_OPEN_URI: the path
        // is a file's, and the sandbox refuses URIs in ATTACH.
        let base = OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let flags = match role {
            Role::Writer => {
                base | OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
            }
            Role::Reader => base | OpenFlags::SQLITE_OPEN_READ_ONLY,
        };
        // Links are checked on every open (a reader opened late, a restarted worker), before
        // and after SQLite opens the file, so one swapped in between is refused as well.
        super::files::check_database(&settings.path)?;
        let conn = Connection::open_with_flags(&settings.path, flags)?;
        super::safety::harden(&conn, settings)?;
        conn.busy_timeout(settings.busy_timeout)?;
        conn.set_prepared_statement_cache_capacity(settings.statement_cache);
        if role == Role::Writer {
            let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(Error::Internal(format!(
                    "{} could not be put in WAL mode (journal_mode is {mode})",
                    settings.path.display()
                )));
            }
            conn.execute_batch(&format!(
                "PRAGMA synchronous={}",
                settings.synchronous.pragma()
            ))?;
            if settings.replicated {
                // Litestream runs the checkpoints, PASSIVE ones, once it has copied the WAL;
                // one of SQLite's own could move pages home that it has not copied yet.
                conn.execute_batch("PRAGMA wal_autocheckpoint=0")?;
            }
        }
        conn.execute_batch(&format!(
            "PRAGMA foreign_keys=ON; PRAGMA cache_size=-{}",
            settings.cache_kib
        ))?;
        // The WAL and shared-memory files exist now (the first read made them).
        super::files::check_database(&settings.path)?;

        let baseline = if settings.sandbox {
            None
        } else {
            Some(Baseline::read(&conn)?)
        };
        let data_dir = if settings.sandbox {
            None
        } else {
            settings
                .path
                .parent()
                .and_then(|dir| std::fs::canonicalize(dir).ok())
        };
        let gate = Arc::new(Gate {
            sandbox: settings.sandbox,
            replicated: settings.replicated,
            data_dir,
            ..Gate::default()
        });
        let hook_gate = Arc::clone(&gate);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| authorize(&hook_gate, ctx)))?;
        let running = Arc::new(Running::default());
        let handler_running = Arc::clone(&running);
        conn.progress_handler(
            CHECK_EVERY_OPS,
            Some(move || handler_running.should_interrupt()),
        )?;
        Ok(Self {
            conn,
            gate,
            role,
            running,
            max_value_bytes: settings.max_value_bytes,
            schema_seen: std::cell::Cell::new(None),
            replicated: settings.replicated,
            baseline,
            memory: crate::memory::RequestMemory::new(
                settings.request_memory,
                role == Role::Writer,
            ),
            cache_bound: CacheBound::new(settings.statement_cache_bytes, settings.statement_cache),
        })
    }

    /// The running task's statement writes: its errors may say what was undone.
    pub fn note_write(&self) {
        self.running.note_write();
    }

    /// Runs `work` as the task of `token`: refused at once if the token already says stop,
    /// interrupted inside SQLite if it says so while running.
    pub fn run_task<T>(
        &self,
        token: &Arc<CancelToken>,
        work: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        if token.should_stop() {
            return Err(token.explain(Error::Sqlite {
                code: rusqlite::ffi::SQLITE_INTERRUPT,
                message: "interrupted before it started".into(),
                field: None,
            }));
        }
        // A span naming the request, so the worker's log lines (in a worker process too)
        // carry the id the client was told.
        let _span = token
            .request_id()
            .map(|id| tracing::debug_span!("request", id).entered());
        self.settle()?;
        self.running.start(token);
        self.gate
            .access
            .store(token.access().as_u8(), Ordering::Relaxed);
        self.gate
            .may_attach
            .store(token.may_attach(), Ordering::Relaxed);
        let _budget = self.request_budget();
        let result = work();
        self.running.clear();
        // Nothing prepared after the task runs with its rights.
        self.gate
            .access
            .store(Access::Read.as_u8(), Ordering::Relaxed);
        self.gate.may_attach.store(false, Ordering::Relaxed);
        self.undo_request_state();
        result.map_err(|err| self.explain_refusal(self.explain_limit(token.explain(err))))
    }

    /// Undoes what the request that just ran changed on the connection
    /// ([`super::request_state`]): its settings at once, the databases it attached if no
    /// transaction holds them (else [`Sqlite::holds_request_state`] says so, and
    /// [`Sqlite::settle`] detaches them once the transaction ended). Inside an interactive
    /// transaction everything waits for its end: the transaction is one client's.
    fn undo_request_state(&self) {
        if self.gate.interactive.load(Ordering::Relaxed) {
            return;
        }
        let settings = self.gate.leftovers.take_settings();
        if let Some(baseline) = &self.baseline
            && !settings.is_empty()
            && let Err(err) = self.trusted(|| baseline.restore(&self.conn, &settings))
        {
            tracing::error!(error = %err, "restoring the settings a request changed failed");
        }
        if self.conn.is_autocommit() {
            let _ = self.settle();
        }
    }

    /// Whether the connection still holds a database the last request attached: it must
    /// serve no other request before its transaction ends and [`Sqlite::settle`] runs (the
    /// group commit ends its group there).
    pub fn holds_request_state(&self) -> bool {
        self.gate.leftovers.attached()
    }

    /// Detaches what an earlier request attached, now that no transaction holds it; while it
    /// cannot, refuses to run another request (UNAVAILABLE: retry).
    pub fn settle(&self) -> Result<()> {
        if !self.holds_request_state() || self.gate.interactive.load(Ordering::Relaxed) {
            return Ok(());
        }
        let detached = if self.conn.is_autocommit() {
            self.trusted(|| super::request_state::detach_all(&self.conn))
                .map_err(|err| err.to_string())
        } else {
            Err("a transaction still holds it".into())
        };
        match detached {
            Ok(()) => {
                self.gate.leftovers.detached();
                Ok(())
            }
            Err(err) => {
                tracing::error!(error = %err, "detaching the databases a request attached failed");
                Err(Error::Unavailable(
                    "this connection still holds a database an earlier request attached, and \
                     serves nothing else until it is detached; retry"
                        .into(),
                ))
            }
        }
    }

    /// A statement refused while it stepped (SQLITE_AUTH: a PRAGMA a `pragma_*` function
    /// would run, say) says why, as a refusal at prepare does.
    fn explain_refusal(&self, err: Error) -> Error {
        match &err {
            Error::Sqlite { code, .. } if code & 0xff == rusqlite::ffi::SQLITE_AUTH => {
                self.take_refusal().map_or(err, Error::PermissionDenied)
            }
            _ => err,
        }
    }

    /// Why the authorizer last refused an action, forgotten here.
    fn take_refusal(&self) -> Option<String> {
        self.gate
            .refusal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Adds to SQLite's terse message for a bound it reached which bound it was.
    fn explain_limit(&self, err: Error) -> Error {
        let Error::Sqlite {
            code,
            message,
            field,
        } = err
        else {
            return err;
        };
        let advice = match code & 0xff {
            rusqlite::ffi::SQLITE_TOOBIG => format!(
                "a string, blob or row may hold at most {} bytes on this server (it could not \
                 be sent in one message: --max-message-bytes); build smaller values",
                self.max_value_bytes
            ),
            rusqlite::ffi::SQLITE_NOMEM => self.memory.advice(),
            _ => {
                return Error::Sqlite {
                    code,
                    message,
                    field,
                };
            }
        };
        Error::Sqlite {
            code,
            message: format!("{message}: {advice}"),
            field,
        }
    }

    /// Starts a request's memory budget on this connection (inside one already running, an
    /// interactive transaction's, it changes nothing).
    pub fn request_budget(&self) -> crate::memory::RequestBudget {
        self.memory.start()
    }

    /// The role this connection was opened for.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The rusqlite connection.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Runs the server's own transaction statements (BEGIN, SAVEPOINT, COMMIT, …), which the
    /// authorizer refuses to clients. A single statement comes from the statement cache: the
    /// writer runs a few of these around every group, so parsing them each time would show.
    pub fn internal(&self, sql: &str) -> Result<()> {
        let _internal = Raised::new(&self.gate.internal);
        let result = if sql.contains(';') {
            self.conn.execute_batch(sql)
        } else {
            self.conn
                .prepare_cached(sql)
                .and_then(|mut stmt| stmt.raw_execute())
                .map(drop)
        };
        Ok(result?)
    }

    /// Runs `work`, a lone statement of an interactive transaction, with SAVEPOINT, RELEASE
    /// and ROLLBACK TO allowed: savepoints nest inside the transaction's BEGIN, so none of
    /// them can end it.
    pub fn with_savepoints<T>(&self, work: impl FnOnce() -> T) -> T {
        let _savepoints = Raised::new(&self.gate.savepoints);
        work()
    }

    /// An interactive transaction starts: TEMP objects may be made until it ends.
    pub fn begin_interactive(&self) {
        self.gate.interactive.store(true, Ordering::Relaxed);
    }

    /// The interactive transaction ended: drops the TEMP objects it made, and undoes what
    /// its statements changed on the connection ([`super::request_state`]), so none of it
    /// outlives it on this shared connection.
    pub fn end_interactive(&self) {
        self.gate.interactive.store(false, Ordering::Relaxed);
        self.undo_request_state();
        if !self.gate.made_temp.swap(false, Ordering::Relaxed) {
            return;
        }
        if let Err(err) = self.trusted(|| drop_temp_objects(&self.conn)) {
            tracing::error!(error = %err, "dropping a transaction's TEMP objects failed");
        }
    }

    /// Runs `work`, whose SQL is the server's own (map writes), past the authorizer.
    pub fn trusted<T>(&self, work: impl FnOnce() -> T) -> T {
        let _internal = Raised::new(&self.gate.internal);
        work()
    }

    /// Prepares (never runs) `sql`, a probe of a new schema object ([`super::schema_probe`]),
    /// with the authorizer refusing only the functions no schema may call; says why, if it
    /// names one, or if SQLite refuses a function an untrusted schema may not call.
    pub fn probe(&self, sql: &str) -> Option<String> {
        let _probing = Raised::new(&self.gate.probing);
        *self.gate.refusal.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let err = self.conn.prepare(sql).err()?;
        if let Some(reason) = self.take_refusal() {
            return Some(reason);
        }
        let message = match &err {
            rusqlite::Error::SqliteFailure(_, Some(message)) => message.as_str(),
            _ => return None,
        };
        message.starts_with("unsafe use of ").then(|| {
            format!(
                "{message} (the schema is not trusted: a view, trigger, DEFAULT, CHECK, \
                 generated column or index expression may call only functions that are safe \
                 whoever triggers them)"
            )
        })
    }

    /// Runs a maintenance statement of the server's own outside any transaction, and returns
    /// the integer columns of its first row (empty when it returns none).
    pub fn maintenance(&self, sql: &str) -> Result<Vec<i64>> {
        let _internal = Raised::new(&self.gate.internal);
        let result = (|| {
            let mut stmt = self.conn.prepare(sql)?;
            let columns = stmt.column_count();
            let mut rows = stmt.query([])?;
            let mut first = Vec::new();
            if let Some(row) = rows.next()? {
                for i in 0..columns {
                    first.push(row.get::<_, Option<i64>>(i)?.unwrap_or_default());
                }
            }
            while rows.next()?.is_some() {}
            Ok::<_, rusqlite::Error>(first)
        })();
        Ok(result?)
    }

    /// Prepares (or takes from the cache) one client statement, and refuses it if the
    /// request's role may not run it ([`sandbox::writes_refusal`]).
    pub fn prepare(&self, sql: &str) -> Result<ClientStatement<'_>> {
        if is_blank(sql) {
            return Err(Error::invalid(
                "statement.sql",
                "the SQL text holds no statement (it is empty or only comments)",
            ));
        }
        if text::first_word(sql).eq_ignore_ascii_case("VACUUM") {
            // SQLite runs VACUUM only outside a transaction, and every request runs in one.
            return Err(Error::invalid(
                "statement.sql",
                "VACUUM cannot run here: SQLite runs it only outside a transaction, and every \
                 statement runs inside one (its group commit's, or an interactive one). Rebuild \
                 the database with the Admin.Vacuum call (admin role), and copy it with \
                 Admin.Backup instead of VACUUM INTO",
            ));
        }
        self.gate.refused_control.store(0, Ordering::Relaxed);
        *self.gate.refusal.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.creates().clear();
        self.gate.uncached.store(false, Ordering::Relaxed);
        let access = Access::from_u8(self.gate.access.load(Ordering::Relaxed));
        // The authorizer runs when a statement is prepared, not when a cached one runs again:
        // a statement prepared for one access must never be reused for another, so every
        // access has its own cache keys — a leading comment SQLite ignores. Every level has a
        // prefix, so no client text can collide with another level's key (an admin sending
        // "/*r*/INSERT …" is cached as "/*a*//*r*/INSERT …").
        // Inside an interactive transaction the authorizer allows TEMP objects, so its
        // statements get keys of their own too ('t'): one prepared there must never run
        // outside it. Likewise for savepoints, allowed only in its lone statements ('s').
        let key = format!(
            "/*{}{}{}*/{sql}",
            match access {
                Access::Admin => 'a',
                Access::Write => 'w',
                Access::Read => 'r',
            },
            if self.gate.interactive.load(Ordering::Relaxed) {
                "t"
            } else {
                ""
            },
            if self.gate.savepoints.load(Ordering::Relaxed) {
                "s"
            } else {
                ""
            }
        );
        // A PRAGMA answers from the schema the connection holds, without the schema check a
        // statement's read transaction makes: on a reader that read the schema before
        // another connection's change, `PRAGMA index_info(new_index)` would answer nothing.
        // So the connection reads the schema's version first, which reloads a stale schema
        // (and expires the statements prepared against it, cached PRAGMAs included).
        if self.conn.is_autocommit() && text::first_word(&key).eq_ignore_ascii_case("PRAGMA") {
            self.refresh_schema();
        }
        let sql = key.as_str();
        let preparing = Raised::new(&self.gate.preparing);
        let first = self.conn.prepare_cached(sql);
        // An idle connection parses against the schema it last read: another connection's
        // schema change since then can make a valid statement fail to prepare ("table t has
        // 2 columns but 3 values were supplied"), and SQLite does not always look again. So a
        // statement that fails to prepare outside a transaction is tried once more after the
        // connection has read the schema's current version.
        let prepared = match first {
            Err(rusqlite::Error::SqlInputError { .. } | rusqlite::Error::SqliteFailure(..))
                if self.conn.is_autocommit() && self.refresh_schema() =>
            {
                *self.gate.refusal.lock().unwrap_or_else(|p| p.into_inner()) = None;
                self.creates().clear();
                self.conn.prepare_cached(sql)
            }
            other => other,
        };
        drop(preparing);
        let stmt = prepared.map_err(|err| {
            if let Some(reason) = self.take_refusal() {
                return Error::PermissionDenied(reason);
            }
            let interactive = self.gate.interactive.load(Ordering::Relaxed);
            match Control::from_u8(self.gate.refused_control.load(Ordering::Relaxed)) {
                None => Error::from(err),
                Some(control) => Error::invalid("statement.sql", control.refusal(interactive)),
            }
        })?;
        let creates = std::mem::take(&mut *self.creates());
        let statement = ClientStatement {
            stmt: Some(stmt),
            uncached: self.gate.uncached.swap(false, Ordering::Relaxed) || !creates.is_empty(),
            creates,
            key,
            owner: self,
        };
        let on_writer = self.role == Role::Writer;
        if let Some(why) = sandbox::writes_refusal(access, statement.readonly(), on_writer) {
            return Err(Error::PermissionDenied(why));
        }
        Ok(statement)
    }

    fn creates(&self) -> std::sync::MutexGuard<'_, Vec<SchemaObject>> {
        self.gate.creates.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the schema's version, which makes SQLite drop a schema it holds from before
    /// another connection's change. True when the schema had changed, so a retry can help.
    fn refresh_schema(&self) -> bool {
        let internal = Raised::new(&self.gate.internal);
        let before = self.schema_seen.get();
        // Reading sqlite_schema checks the schema cookie, and reloads the schema if another
        // connection changed it; then its version says whether it had changed.
        let now: Option<i64> = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
            .and_then(|()| {
                self.conn
                    .query_row("PRAGMA schema_version", [], |row| row.get(0))
            })
            .ok();
        drop(internal);
        self.schema_seen.set(now);
        now.is_some() && now != before
    }

    /// Closes the connection; the writer first checkpoints the WAL into the database file
    /// (the server's own statement: the sandbox does not apply to it). Under Litestream the
    /// checkpoint is PASSIVE: a TRUNCATE would wait the busy timeout on Litestream's read
    /// transaction, and could move pages home that it has not copied yet.
    pub fn close(self) {
        let checkpoint = if self.replicated {
            super::maintenance::CHECKPOINT_PASSIVE
        } else {
            super::maintenance::CHECKPOINT
        };
        if self.role == Role::Writer
            && let Err(err) = self.maintenance(checkpoint)
        {
            tracing::warn!(error = %err, "WAL checkpoint at close failed");
        }
        if let Err((_, err)) = self.conn.close() {
            tracing::warn!(error = %err, "closing a connection failed");
        }
    }
}

/// Drops every TEMP trigger, view and table (their indexes go with them).
fn drop_temp_objects(conn: &Connection) -> rusqlite::Result<()> {
    let objects: Vec<(String, String)> = conn
        .prepare(
            "SELECT type, name FROM temp.sqlite_schema WHERE type IN ('trigger', 'view', 'table') \
             ORDER BY CASE type WHEN 'trigger' THEN 0 WHEN 'view' THEN 1 ELSE 2 END",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (kind, name) in objects {
        let name = name.replace('"', "\"\"");
        conn.execute_batch(&format!("DROP {kind} IF EXISTS temp.\"{name}\""))?;
    }
    Ok(())
}

/// Whether `sql` holds nothing but white space, comments and semicolons.
fn is_blank(sql: &str) -> bool {
    text::skip_blank(sql, true).is_empty()
}

fn authorize(gate: &Gate, ctx: AuthContext<'_>) -> Authorization {
    if gate.internal.load(Ordering::Relaxed) {
        return Authorization::Allow;
    }
    let refuse = |reason: String| {
        *gate.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
        Authorization::Deny
    };
    if gate.probing.load(Ordering::Relaxed) {
        return match sandbox::refused_function(&ctx.action, gate.sandbox) {
            Some(reason) => refuse(reason),
            None => Authorization::Allow,
        };
    }
    if gate.replicated
        && let Some(reason) = sandbox::litestream_refusal(&ctx.action)
    {
        return refuse(reason);
    }
    let client = gate.preparing.load(Ordering::Relaxed);
    let asking = Asking {
        access: Access::from_u8(gate.access.load(Ordering::Relaxed)),
        sandbox: gate.sandbox,
        interactive: gate.interactive.load(Ordering::Relaxed),
        client,
        attach: AttachRule {
            allowed: gate.may_attach.load(Ordering::Relaxed),
            data_dir: gate.data_dir.as_deref(),
        },
    };
    if let Some(reason) = sandbox::check(&ctx.action, ctx.database_name, &asking) {
        return refuse(reason);
    }
    if sandbox::is_temp_creation(&ctx.action, ctx.database_name) {
        gate.made_temp.store(true, Ordering::Relaxed);
    }
    note_leftovers(gate, &ctx.action);
    if client && let Some(object) = SchemaObject::made_by(&ctx.action, ctx.database_name) {
        gate.creates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(object);
    }
    match ctx.action {
        // Transaction control is the client's only in its own statement; SQLite and the
        // modules balance their own savepoints (FTS3's `SAVEPOINT fts3`) while a statement
        // steps.
        _ if !client => Authorization::Allow,
        AuthAction::Savepoint { .. } if gate.savepoints.load(Ordering::Relaxed) => {
            Authorization::Allow
        }
        AuthAction::Transaction { .. } => {
            gate.refused_control
                .store(Control::Transaction as u8, Ordering::Relaxed);
            Authorization::Deny
        }
        AuthAction::Savepoint { .. } => {
            gate.refused_control
                .store(Control::Savepoint as u8, Ordering::Relaxed);
            Authorization::Deny
        }
        _ => Authorization::Allow,
    }
}

/// Notes what the allowed `action` changes on the connection, to undo at the request's end
/// ([`super::request_state`]); a statement that does so is never cached, so that it is
/// authorized, and noted, each time it runs.
fn note_leftovers(gate: &Gate, action: &AuthAction<'_>) {
    match action {
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => gate.leftovers.note_attached(),
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => match sandbox::pragmas::sets_connection(pragma_name, *pragma_value) {
            Some(setting) => gate.leftovers.note_setting(setting),
            None => return,
        },
        _ => return,
    }
    gate.uncached.store(true, Ordering::Relaxed);
}

/// The transaction control a client's statement was refused for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Control {
    /// BEGIN, COMMIT, END or ROLLBACK (without TO).
    Transaction = 1,
    /// SAVEPOINT, RELEASE or ROLLBACK TO.
    Savepoint = 2,
}

impl Control {
    fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::Transaction),
            2 => Some(Self::Savepoint),
            _ => None,
        }
    }

    /// What to do instead, outside (`interactive` false) or inside an interactive transaction.
    fn refusal(self, interactive: bool) -> &'static str {
        match (self, interactive) {
            (Self::Transaction, false) | (Self::Savepoint, false) => {
                "transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE) is not \
                 allowed in a statement: every request is its own transaction; use \
                 ExecuteBatch to run several statements atomically, or Begin an interactive \
                 transaction (inside one, SAVEPOINT, RELEASE and ROLLBACK TO are allowed)"
            }
            (Self::Transaction, true) => {
                "BEGIN, COMMIT and ROLLBACK are not allowed inside an interactive \
                 transaction: end it with the Commit or Rollback call, and nest with \
                 SAVEPOINT, RELEASE and ROLLBACK TO instead of BEGIN"
            }
            (Self::Savepoint, true) => {
                "SAVEPOINT, RELEASE and ROLLBACK TO must be sent alone with Execute inside \
                 an interactive transaction, not in a batch or a query"
            }
        }
    }
}

/// Hands the executor a fixed set of connections in tests.
#[cfg(test)]
pub fn test_settings(dir: &std::path::Path) -> ConnectionSettings {
    ConnectionSettings {
        path: dir.join("test.db"),
        synchronous: Synchronous::Full,
        busy_timeout: Duration::from_secs(5),
        statement_cache: 64,
        statement_cache_bytes: 8 << 20,
        cache_kib: 2048,
        sandbox: true,
        max_value_bytes: 16 << 20,
        replicated: false,
        request_memory: crate::memory::MemoryBudgets::default(),
    }
}
