//! The shell's state and what it does with each line: SQL until a complete statement
//! (transaction control run by the shell itself), or a dot command (`dot.rs`).
//!
//! A script — standard input that is not a terminal, `-c`, `.read` — differs from typing in
//! two ways: a transaction it opens is all or nothing (the first error rolls it back and
//! the rest of it, up to its COMMIT, is skipped), and the statements inside a transaction
//! that return no rows travel to the server in batches, so a dump loads in one round trip
//! per [`BATCH_STATEMENTS`] statements.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use sqlited_client::{Client, Database, Error, OpenMode, TransactionMode};
use tokio::runtime::Runtime;

use crate::control::{Statement, classify};
use crate::output::{Printer, Settings};
use crate::pager::{self, Page};
use crate::sink::Sink;
use crate::split::split;
use crate::transaction::OpenTransaction;

/// Most statements sent in one batch.
const BATCH_STATEMENTS: usize = 1000;
/// Most SQL bytes sent in one batch (well below the server's 16 MiB message bound).
const BATCH_BYTES: usize = 4 << 20;

/// What the shell is connected to, how it prints, and what is under way.
pub struct Shell {
    pub runtime: Runtime,
    pub client: Client,
    /// The database statements run on; `None` until one is named (`.open`).
    pub db: Option<Database>,
    /// `.timeout`: the deadline of each call.
    pub timeout: Option<Duration>,
    pub settings: Settings,
    pub out: Sink,
    pub timer: bool,
    pub echo: bool,
    pub changes: bool,
    /// `.pager`, `--no-pager`: page results taller than the screen (on a terminal only).
    pub pager: bool,
    /// How long an open transaction's lease is renewed for a user who types nothing.
    pub keepalive: Duration,
    pub total_changes: u64,
    /// `.bail on`: a script stops at its first error.
    pub bail: bool,
    /// Input comes from a script rather than a person (see the module's doc).
    pub script: bool,
    /// SQL typed so far that does not end a statement yet.
    pending: String,
    pub tx: Option<OpenTransaction>,
    /// Statements of a script's transaction waiting to be sent as one batch.
    batch: Vec<String>,
    batch_bytes: usize,
    /// A script's transaction failed: its statements are skipped until its COMMIT/ROLLBACK.
    skipping: bool,
    /// While skipping: the savepoint whose RELEASE ends the skipped transaction, if a
    /// SAVEPOINT began it.
    skip_release: Option<String>,
    /// `PRAGMA foreign_keys=OFF` was seen: each transaction defers its foreign key checks to
    /// COMMIT.
    defer_foreign_keys: bool,
    /// Ctrl-C, when a person is at the keyboard: it stops the running statement.
    interrupt: Option<tokio::signal::unix::Signal>,
    /// Whether any statement or command failed (the exit code says so).
    pub failed: bool,
    /// Set by `.quit` (and by an error under `.bail on`).
    pub quit: bool,
    /// Set when a statement may have changed the schema (completion reloads names).
    pub schema_changed: bool,
}

/// Why a statement did not complete.
pub enum Failure {
    Error(Error),
    /// A mistake the shell itself finds (no transaction to commit, no database open…).
    Usage(String),
    Interrupted,
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::Error(err)
    }
}

impl Shell {
    /// Connects to `server`, with `database` opened in its mode if named (created if
    /// missing in `rwc`, as sqlite3 creates a file).
    pub fn connect(
        server: &str,
        database: Option<(&str, OpenMode)>,
        settings: Settings,
        options: sqlited_client::ClientOptions,
    ) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let client = runtime.block_on(Client::connect_with(server, options))?;
        let db = match database {
            Some((name, mode)) => Some(runtime.block_on(client.open_with(name, mode))?),
            None => None,
        };
        Ok(Self {
            runtime,
            client,
            db,
            timeout: None,
            settings,
            out: Sink::stdout(),
            timer: false,
            echo: false,
            changes: false,
            pager: true,
            keepalive: crate::transaction::MAX_IDLE,
            total_changes: 0,
            bail: false,
            script: true,
            pending: String::new(),
            tx: None,
            batch: Vec::new(),
            batch_bytes: 0,
            skipping: false,
            skip_release: None,
            defer_foreign_keys: false,
            interrupt: None,
            failed: false,
            quit: false,
            schema_changed: false,
        })
    }

    /// For a person at a terminal: Ctrl-C stops the running statement instead of the shell.
    pub fn interactive(&mut self) {
        self.script = false;
        let _guard = self.runtime.enter();
        self.interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    }

    /// The open database's name.
    pub fn database_name(&self) -> &str {
        self.db.as_ref().map_or("(none)", |db| db.name())
    }

    /// Whether a statement is half typed (for the continuation prompt).
    pub fn in_statement(&self) -> bool {
        !self.pending.trim().is_empty()
    }

    /// Forgets a half-typed statement (Ctrl-C at a continuation prompt).
    pub fn clear_pending(&mut self) {
        self.pending.clear();
    }

    /// The prompt: the database, marked while a transaction is open.
    pub fn prompt(&mut self) -> String {
        self.check_lost();
        // A Ctrl-C that came after the last statement ended is not meant for the next one.
        if let Some(signal) = self.interrupt.as_mut() {
            self.runtime.block_on(async {
                while let Ok(Some(())) = tokio::time::timeout(Duration::ZERO, signal.recv()).await {
                }
            });
        }
        if self.in_statement() {
            "   ...> ".into()
        } else if self.tx.is_some() {
            format!("{} (transaction)> ", self.database_name())
        } else {
            format!("{}> ", self.database_name())
        }
    }

    /// Handles one line of input.
    pub fn feed(&mut self, line: &str) {
        if !self.in_statement() {
            let trimmed = line.trim();
            if trimmed.starts_with('.') {
                self.flush_batch();
                if self.echo {
                    self.echo_line(trimmed);
                }
                self.dot(trimmed);
                self.out.statement_done();
                return;
            }
            if matches!(trimmed, "\\q" | "exit" | "quit" | "exit;" | "quit;") {
                self.quit = true;
                return;
            }
        }
        self.pending.push_str(line);
        self.pending.push('\n');
        let (statements, rest) = split(&self.pending);
        self.pending = rest;
        for statement in statements {
            if self.quit {
                break;
            }
            self.statement(&statement);
        }
    }

    /// Runs what is left at the end of the input, complete or not, and sends any batch.
    pub fn finish(&mut self) {
        let rest = std::mem::take(&mut self.pending);
        if !rest.trim().is_empty() && !self.quit {
            self.statement(rest.trim());
        }
        self.flush_batch();
    }

    /// Ends the session: an open transaction is rolled back, as closing sqlite3 does.
    pub fn close(&mut self) {
        self.finish();
        if let Some(tx) = self.tx.take() {
            let _ = tx.end(&self.runtime, false);
            eprintln!("note: the input ended inside a transaction: it was rolled back");
        }
        self.out.finish();
    }

    fn echo_line(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
    }

    /// One complete statement.
    fn statement(&mut self, sql: &str) {
        if self.echo {
            self.echo_line(sql);
        }
        let kind = classify(sql);
        if self.skipping {
            self.skipping = !self.ends_skipping(&kind);
            return;
        }
        self.check_lost();
        if let Statement::Sql { batchable: true } = kind
            && self.script
            && self.tx.is_some()
        {
            self.batch_bytes += sql.len();
            self.batch.push(sql.to_string());
            if self.batch.len() >= BATCH_STATEMENTS || self.batch_bytes >= BATCH_BYTES {
                self.flush_batch();
            }
            return;
        }
        self.flush_batch();
        if self.skipping {
            // The batch just sent failed: this statement belongs to the failed transaction.
            self.skipping = !self.ends_skipping(&kind);
            return;
        }
        let started = Instant::now();
        // A statement that begins a transaction, and the savepoint whose RELEASE would end it.
        let begins = match &kind {
            Statement::Begin(_) => Some(None),
            Statement::Savepoint(name) if self.tx.is_none() => Some(Some(name.clone())),
            _ => None,
        };
        let result = match kind {
            Statement::Begin(mode) => self.begin(mode, false),
            Statement::Commit => self.end(true, "commit"),
            Statement::Rollback => self.end(false, "rollback"),
            Statement::Savepoint(name) => self.savepoint(sql, name),
            Statement::Release(name) => self.release(sql, &name),
            Statement::RollbackTo(name) => self.rollback_to(sql, &name),
            Statement::ForeignKeys { on } => self.foreign_keys(on, sql),
            Statement::Sql { .. } => {
                let upper = sql.trim_start().to_ascii_uppercase();
                if ["CREATE", "DROP", "ALTER"]
                    .iter()
                    .any(|w| upper.starts_with(w))
                {
                    self.schema_changed = true;
                }
                self.run_sql(sql)
            }
        };
        match result {
            Ok(()) => {}
            Err(failure) => {
                self.fail(failure);
                if let Some(release) = begins {
                    self.not_begun(release);
                }
            }
        }
        if self.timer {
            let _ = writeln!(
                self.out,
                "Run Time: real {:.3}",
                started.elapsed().as_secs_f64()
            );
        }
        self.out.statement_done();
    }

    /// Reports why a statement or command did not complete.
    pub fn fail(&mut self, failure: Failure) {
        match failure {
            Failure::Interrupted => {
                self.out.statement_done();
                eprintln!("interrupted");
                self.after_interrupt();
            }
            Failure::Error(err) => self.failed_statement(&err, None),
            Failure::Usage(message) => {
                self.usage(&message);
                if self.script
                    && let Some(tx) = self.tx.take()
                {
                    self.skip(&tx);
                    let _ = tx.end(&self.runtime, false);
                    eprintln!(
                        "the transaction was rolled back (a script's transaction is all or \
                         nothing); its remaining statements are skipped"
                    );
                }
            }
        }
    }

    /// The database to run on, or why there is none.
    pub fn database(&self) -> Result<Database, Failure> {
        let db = self.db.as_ref().ok_or_else(|| {
            usage(
                "no database is open: use .open NAME, or name it in the URL \
                 (http://HOST:PORT/NAME)",
            )
        })?;
        Ok(db.with_timeout(self.timeout))
    }

    /// Where statements run: the open transaction, or the database.
    pub fn target(&self) -> Result<Database, Failure> {
        match &self.tx {
            Some(tx) => Ok(tx.db().with_timeout(self.timeout)),
            None => self.database(),
        }
    }

    /// `SAVEPOINT name`: outside a transaction it begins one (DEFERRED), as in SQLite; the
    /// savepoint itself is the server's, inside the transaction.
    fn savepoint(&mut self, sql: &str, name: String) -> Result<(), Failure> {
        let began = self.tx.is_none();
        if began {
            self.begin(TransactionMode::Deferred, true)?;
        }
        if let Err(failure) = self.run_in_transaction(sql) {
            if began && let Some(tx) = self.tx.take() {
                let _ = tx.end(&self.runtime, false);
            }
            return Err(failure);
        }
        if let Some(tx) = self.tx.as_mut() {
            tx.savepoints.push(name);
        }
        Ok(())
    }

    /// `RELEASE name`: of the savepoint that began the transaction, it commits; of any other,
    /// the server releases it and those inside it.
    fn release(&mut self, sql: &str, name: &str) -> Result<(), Failure> {
        let Some(tx) = self.tx.as_ref() else {
            return Err(usage(&format!("no such savepoint: {name}")));
        };
        match find_savepoint(&tx.savepoints, name) {
            Some(0) if tx.begun_by_savepoint => self.end(true, "release"),
            at => {
                self.run_in_transaction(sql)?;
                if let (Some(at), Some(tx)) = (at, self.tx.as_mut()) {
                    tx.savepoints.truncate(at);
                }
                Ok(())
            }
        }
    }

    /// `ROLLBACK TO name`: the server undoes what followed the savepoint, which stays open
    /// (so does the transaction), as in SQLite.
    fn rollback_to(&mut self, sql: &str, name: &str) -> Result<(), Failure> {
        let Some(tx) = self.tx.as_ref() else {
            return Err(usage(&format!("no such savepoint: {name}")));
        };
        let at = find_savepoint(&tx.savepoints, name);
        self.run_in_transaction(sql)?;
        if let (Some(at), Some(tx)) = (at, self.tx.as_mut()) {
            tx.savepoints.truncate(at + 1);
        }
        Ok(())
    }

    /// `PRAGMA foreign_keys=OFF` (in every sqlite3 dump): the server always enforces foreign
    /// keys, so the shell defers their checks to COMMIT instead (`PRAGMA
    /// defer_foreign_keys=ON`, which lasts one transaction) in this and every later
    /// transaction, until `PRAGMA foreign_keys=ON`.
    fn foreign_keys(&mut self, on: bool, sql: &str) -> Result<(), Failure> {
        self.defer_foreign_keys = !on;
        if on {
            eprintln!(
                "note: {} skipped: sqlited always enforces foreign keys",
                sql.trim_end_matches(';')
            );
            return Ok(());
        }
        eprintln!(
            "note: {} skipped: sqlited always enforces foreign keys, so the shell defers their \
             checks to each transaction's COMMIT instead (PRAGMA defer_foreign_keys=ON)",
            sql.trim_end_matches(';')
        );
        if self.tx.is_some() {
            self.run_in_transaction(DEFER_FOREIGN_KEYS)?;
        }
        Ok(())
    }

    /// Runs `sql`, which returns no rows, in the open transaction.
    fn run_in_transaction(&mut self, sql: &str) -> Result<(), Failure> {
        let db = self.target()?;
        match self.interruptible(db.execute(sql, ())) {
            None => Err(Failure::Interrupted),
            Some(result) => result.map(drop).map_err(Failure::from),
        }
    }

    fn begin(&mut self, mode: TransactionMode, begun_by_savepoint: bool) -> Result<(), Failure> {
        if self.tx.is_some() {
            return Err(usage(
                "cannot start a transaction within a transaction (COMMIT or ROLLBACK first)",
            ));
        }
        let db = self.database()?;
        self.tx = Some(OpenTransaction::begin(
            &self.runtime,
            &db,
            mode,
            begun_by_savepoint,
            self.keepalive,
        )?);
        if self.defer_foreign_keys
            && let Err(failure) = self.run_in_transaction(DEFER_FOREIGN_KEYS)
        {
            if let Some(tx) = self.tx.take() {
                let _ = tx.end(&self.runtime, false);
            }
            return Err(failure);
        }
        Ok(())
    }

    fn end(&mut self, commit: bool, what: &str) -> Result<(), Failure> {
        let Some(tx) = self.tx.take() else {
            return Err(usage(&format!("cannot {what} - no transaction is active")));
        };
        tx.end(&self.runtime, commit)?;
        Ok(())
    }

    /// Runs `future`; Ctrl-C (interactive only) drops it, which cancels its call: the
    /// server stops the statement.
    pub fn interruptible<F: std::future::Future>(&mut self, future: F) -> Option<F::Output> {
        let Some(signal) = self.interrupt.as_mut() else {
            return Some(self.runtime.block_on(future));
        };
        self.runtime.block_on(async {
            tokio::select! {
                output = future => Some(output),
                _ = signal.recv() => None,
            }
        })
    }

    /// The pager and the screen, if this result may be paged: `.pager on`, to standard
    /// output, which is a terminal.
    fn pager(&self) -> Option<(String, usize, usize)> {
        if !self.pager || !self.out.is_stdout() || !std::io::stdout().is_terminal() {
            return None;
        }
        let (rows, columns) = pager::screen()?;
        Some((pager::command()?, rows, columns))
    }

    /// Runs one SQL statement and prints its rows as they arrive; interactively, a row
    /// count line follows them.
    fn run_sql(&mut self, sql: &str) -> Result<(), Failure> {
        let db = self.target()?;
        let settings = self.settings.clone();
        let pager = self.pager();
        let count_rows = !self.script;
        let mut out = std::mem::take(&mut self.out);
        let outcome = self.interruptible(async {
            let mut rows = db.query(sql, ()).await?;
            let columns: Vec<String> = rows
                .columns()
                .iter()
                .map(|c| c.name().to_string())
                .collect();
            if columns.is_empty() {
                while rows.next().await?.is_some() {}
                return Ok::<_, Failure>(rows.summary());
            }
            let mut page = Page::new(&mut out, pager);
            let mut printer = Printer::new(&settings, columns);
            let mut count = 0u64;
            while let Some(row) = rows.next().await? {
                count += 1;
                printer.row(&mut page, row.values()).map_err(io_error)?;
                if page.gone() {
                    // The user left the pager: stop reading, which cancels the call.
                    return Ok(None);
                }
            }
            printer.finish(&mut page).map_err(io_error)?;
            if count_rows {
                let plural = if count == 1 { "" } else { "s" };
                writeln!(page, "({count} row{plural})").map_err(io_error)?;
            }
            page.finish().map_err(io_error)?;
            Ok(None)
        });
        self.out = out;
        match outcome {
            None => Err(Failure::Interrupted),
            Some(Err(failure)) => Err(failure),
            Some(Ok(summary)) => {
                if let Some(summary) = summary {
                    self.count_changes(summary.rows_affected);
                }
                Ok(())
            }
        }
    }

    fn count_changes(&mut self, changes: u64) {
        self.total_changes += changes;
        if self.changes {
            let total = self.total_changes;
            let _ = writeln!(self.out, "changes: {changes}   total_changes: {total}");
        }
    }

    /// Sends the statements waiting in the batch.
    fn flush_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let statements = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let db = match self.target() {
            Ok(db) => db,
            Err(failure) => return self.fail(failure),
        };
        let result = self.interruptible(db.execute_batch(statements.iter().map(|s| (s, ()))));
        match result {
            Some(Ok(results)) => {
                for result in results {
                    self.count_changes(result.rows_affected);
                }
            }
            Some(Err(err)) => {
                let at = err
                    .field()
                    .and_then(|f| f.strip_prefix("statements["))
                    .and_then(|f| f.split(']').next())
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| statements.get(i));
                self.failed_statement(&err, at.map(String::as_str));
            }
            None => {
                eprintln!("interrupted");
                self.after_interrupt();
            }
        }
    }

    /// A transaction the server ended on its own (lease run out) is reported, and forgotten.
    fn check_lost(&mut self) {
        if let Some(why) = self.tx.as_ref().and_then(OpenTransaction::lost)
            && let Some(tx) = self.tx.take()
        {
            self.failed = true;
            eprintln!("Error: the transaction is over: {why}");
            if self.script {
                self.skip(&tx);
            }
        }
    }

    /// After a statement that was to begin a transaction failed (the server refused BEGIN:
    /// too many transactions, the role, the database, the deadline…): in a script, the
    /// transaction it began is failed as a whole, and its statements are skipped up to its
    /// end — its COMMIT or ROLLBACK, or the RELEASE of `release`, the SAVEPOINT that was to
    /// begin it — as after any failed statement, rather than run one by one in autocommit.
    /// At the prompt, says that no transaction is open.
    fn not_begun(&mut self, release: Option<String>) {
        if self.tx.is_some() || self.skipping || self.quit {
            // Not begun because one is open (the error said so), or already skipped.
            return;
        }
        if self.script {
            self.skipping = true;
            self.skip_release = release;
            eprintln!(
                "the transaction did not begin, so its statements are skipped up to its end (a \
                 script's transaction is all or nothing)"
            );
        } else {
            eprintln!(
                "no transaction is open: the statements that follow run on their own, each \
                 committed alone"
            );
        }
    }

    /// Skips the rest of the script's failed transaction `tx`.
    fn skip(&mut self, tx: &OpenTransaction) {
        self.skipping = true;
        self.skip_release = if tx.begun_by_savepoint {
            tx.savepoints.first().cloned()
        } else {
            None
        };
    }

    /// Whether `kind` ends the skipped transaction: its COMMIT or ROLLBACK, or the RELEASE of
    /// the savepoint that began it.
    fn ends_skipping(&self, kind: &Statement) -> bool {
        match kind {
            Statement::Commit | Statement::Rollback => true,
            Statement::Release(name) => self
                .skip_release
                .as_ref()
                .is_some_and(|began| began.eq_ignore_ascii_case(name)),
            _ => false,
        }
    }

    /// After Ctrl-C inside a transaction: say whether the transaction survived.
    fn after_interrupt(&mut self) {
        self.failed = true;
        let Some(tx) = &self.tx else { return };
        let db = tx.db();
        if let Err(err) = self.runtime.block_on(db.query_all("SELECT 1", ()))
            && err.status_code() == Some(tonic::Code::Aborted)
        {
            self.tx = None;
            eprintln!("the transaction was rolled back: {}", err.message());
        }
    }

    /// Reports a failed statement; in a script, a failure inside a transaction rolls it back
    /// and skips the rest of it; with `.bail on` the script stops.
    pub fn failed_statement(&mut self, err: &Error, statement: Option<&str>) {
        self.report(err);
        if let Some(statement) = statement {
            let short: String = statement.chars().take(200).collect();
            eprintln!("  in: {short}");
        }
        if err.status_code() == Some(tonic::Code::Aborted)
            && let Some(tx) = self.tx.take()
        {
            eprintln!("the transaction is over: the server rolled it back");
            if self.script {
                self.skip(&tx);
            }
        } else if self.script
            && let Some(tx) = self.tx.take()
        {
            self.skip(&tx);
            let _ = tx.end(&self.runtime, false);
            eprintln!(
                "the transaction was rolled back (a script's transaction is all or nothing); \
                 its remaining statements are skipped"
            );
        }
        if self.bail && self.script {
            self.quit = true;
        }
    }

    /// Prints an error with its kind and SQLite code.
    pub fn report(&mut self, err: &Error) {
        self.failed = true;
        let mut detail = Vec::new();
        if let Some(reason) = err.reason() {
            detail.push(reason.to_string());
        }
        if let Some(code) = err.sqlite_code() {
            detail.push(format!("code {code}"));
        }
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", detail.join(", "))
        };
        self.out.flush_now();
        eprintln!("Error: {}: {}{detail}", err.kind().name(), err.message());
    }

    /// Reports a mistake in a command.
    pub fn usage(&mut self, message: &str) {
        self.failed = true;
        self.out.flush_now();
        eprintln!("Error: {message}");
        if self.bail && self.script {
            self.quit = true;
        }
    }
}

pub fn usage(message: &str) -> Failure {
    Failure::Usage(message.to_string())
}

/// What the shell runs at the start of each transaction after `PRAGMA foreign_keys=OFF`.
const DEFER_FOREIGN_KEYS: &str = "PRAGMA defer_foreign_keys=ON";

/// Where the innermost savepoint called `name` is in `stack` (names compare as SQLite
/// compares them: ASCII case ignored).
fn find_savepoint(stack: &[String], name: &str) -> Option<usize> {
    stack
        .iter()
        .rposition(|open| open.eq_ignore_ascii_case(name))
}

fn io_error(err: std::io::Error) -> Failure {
    Failure::Usage(format!("cannot write the output: {err}"))
}
