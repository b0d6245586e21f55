//! Dot commands, as sqlite3 spells them.

use std::io::Write;

use sqlited_client::Value;

use crate::output::{Mode, Printer};
use crate::shell::Shell;

pub const HELP: &str = "\
.backup FILE             Write a consistent backup of the database to FILE
.bail on|off             Stop a script at its first error (exit code 1)
.changes on|off          Show how many rows each statement changed
.databases               List the server's databases with their sizes
.dump [TABLE...]         SQL that rebuilds the database (or TABLEs: LIKE patterns)
.echo on|off             Print each command before running it
.headers on|off          Column names in list, csv, quote, tabs and insert modes
.help                    Show this help
.import FILE TABLE       Load CSV into TABLE (created from the header row if new)
                           --csv (the only format), --skip N (skip N first lines)
.indexes [TABLE]         List indexes (of TABLEs: LIKE pattern)
.mode [MODE] [TABLE]     Show or set the output mode: list column box markdown insert
                           quote csv json line table tabs (TABLE: for insert)
.nullvalue TEXT          How NULL shows
.once FILE               Send the next result to FILE
.open [--readonly] NAME   Switch to the database NAME, created if missing (as sqlite3
                           creates a file); NAME?mode=rw: it must exist; ?mode=ro or
                           --readonly: it must exist, and writes are refused
.output [FILE]           Send results to FILE, or back to standard output
.pager on|off            Page results taller than the screen ($PAGER, or less -FRX)
.print TEXT...           Print TEXT
.quit / .exit            Leave (also \\q, exit, quit)
.read FILE               Run the SQL in FILE (as a script: see BEGIN below)
.schema [PATTERN]        Show the CREATE statements, tables first (of PATTERN: LIKE)
.separator COL [ROW]     Separators of list and csv modes
.tables [PATTERN]        List the tables and views
.timeout MS              Deadline of each call (0: none but the server's)
.timer on|off            Show how long each statement took
Anything else is SQL, run when a line ends a complete statement with ';'.
BEGIN/COMMIT/ROLLBACK run a transaction on the server; in a script it is all or nothing.";

/// The words of a dot command: quoted with '…' (as is) or \"…\" (backslash escapes).
pub fn arguments(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut arg = String::new();
        if c == '\'' || c == '"' {
            chars.next();
            while let Some(c2) = chars.next() {
                if c2 == c {
                    break;
                }
                if c == '"' && c2 == '\\' {
                    if let Some(e) = chars.next() {
                        arg.push(unescape(e));
                    }
                } else {
                    arg.push(c2);
                }
            }
        } else {
            while let Some(&c2) = chars.peek() {
                if c2.is_whitespace() {
                    break;
                }
                arg.push(c2);
                chars.next();
            }
        }
        args.push(arg);
    }
    args
}

fn unescape(c: char) -> char {
    match c {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        '0' => '\0',
        c => c,
    }
}

/// `\t`, `\n`… in an unquoted separator, as sqlite3 reads them.
fn backslashes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(e) = chars.next() {
                out.push(unescape(e));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn on_off(value: Option<&str>) -> Option<bool> {
    match value?.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "1" => Some(true),
        "off" | "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

impl Shell {
    /// Runs one dot command.
    pub fn dot(&mut self, line: &str) {
        let args = arguments(line);
        let command = args.first().map(String::as_str).unwrap_or_default();
        let arg = |i: usize| args.get(i).map(String::as_str);
        let flag = |shell: &mut Shell, set: &mut dyn FnMut(&mut Shell, bool)| match on_off(arg(1)) {
            Some(value) => set(shell, value),
            None => shell.usage(&format!("usage: {command} on|off")),
        };
        match command {
            ".help" => {
                let _ = writeln!(self.out, "{HELP}");
            }
            ".quit" | ".exit" => self.quit = true,
            ".mode" => match arg(1) {
                None => {
                    let _ = writeln!(
                        self.out,
                        "current output mode: {}",
                        self.settings.mode.name()
                    );
                }
                Some(name) => match Mode::parse(name) {
                    Some(mode) => {
                        self.settings.mode = mode;
                        self.settings.column_separator = None;
                        // As sqlite3: `.mode csv` ends rows with CRLF (RFC 4180), `--mode
                        // csv` with a newline.
                        self.settings.row_separator =
                            (mode == Mode::Csv).then(|| "\r\n".to_string());
                        if let Some(table) = arg(2) {
                            self.settings.table = table.to_string();
                        }
                    }
                    None => self.usage(&format!(
                        "unknown mode {name:?}; use one of: {}",
                        Mode::ALL.map(|(n, _)| n).join(", ")
                    )),
                },
            },
            ".headers" | ".header" => flag(self, &mut |s, v| s.settings.headers = v),
            ".timer" => flag(self, &mut |s, v| s.timer = v),
            ".echo" => flag(self, &mut |s, v| s.echo = v),
            ".changes" => flag(self, &mut |s, v| s.changes = v),
            ".bail" => flag(self, &mut |s, v| s.bail = v),
            ".pager" => flag(self, &mut |s, v| s.pager = v),
            ".nullvalue" => self.settings.null = arg(1).unwrap_or_default().to_string(),
            ".separator" => match arg(1) {
                Some(col) => {
                    self.settings.column_separator = Some(backslashes(col));
                    if let Some(row) = arg(2) {
                        self.settings.row_separator = Some(backslashes(row));
                    }
                }
                None => self.usage("usage: .separator COL [ROW]"),
            },
            ".print" => {
                let _ = writeln!(self.out, "{}", args[1..].join(" "));
            }
            ".output" | ".once" => {
                let path = arg(1).filter(|p| *p != "stdout");
                if command == ".once" && path.is_none() {
                    return self.usage("usage: .once FILE");
                }
                if let Err(err) = self.out.redirect(path, command == ".once") {
                    self.usage(&format!("cannot write {}: {err}", path.unwrap_or_default()));
                }
            }
            ".open" => self.open(&args[1..]),
            ".timeout" => match arg(1).and_then(|ms| ms.parse::<u64>().ok()) {
                Some(0) => self.timeout = None,
                Some(ms) => self.timeout = Some(std::time::Duration::from_millis(ms)),
                None => self.usage("usage: .timeout MS"),
            },
            ".tables" => {
                let (filter, params) = like_filter("name", &args[1..]);
                self.show_names(
                    &format!(
                        "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') \
                         AND name NOT LIKE 'sqlite_%' AND {}{filter} ORDER BY name",
                        not_litestream("tbl_name")
                    ),
                    params,
                );
            }
            ".indexes" | ".indices" => {
                let (filter, params) = like_filter("tbl_name", &args[1..]);
                self.show_names(
                    &format!(
                        "SELECT name FROM sqlite_schema WHERE type = 'index' AND {}{filter} \
                         ORDER BY name",
                        not_litestream("tbl_name")
                    ),
                    params,
                );
            }
            ".schema" => self.schema(&args[1..]),
            ".dump" => self.dump(&args[1..]),
            ".import" => self.import(&args[1..]),
            ".databases" => self.databases(),
            ".read" => match arg(1) {
                Some(file) => self.read(file),
                None => self.usage("usage: .read FILE"),
            },
            ".backup" => match arg(1) {
                Some(file) => self.backup(file),
                None => self.usage("usage: .backup FILE"),
            },
            _ => self.usage(&format!(
                "unknown or incomplete command {line:?}; try .help"
            )),
        }
    }

    /// Runs the SQL in `file` as a script.
    /// `.open [--readonly] NAME[?mode=…]`: opens NAME as sqlite3 opens a file. If that
    /// fails, no database is open (sqlite3 falls back to an empty in-memory one), so a
    /// script's next statements cannot run on the previous database by mistake.
    fn open(&mut self, args: &[String]) {
        if self.tx.is_some() {
            return self.usage("a transaction is open: COMMIT or ROLLBACK it before .open");
        }
        let (name, mode) = match crate::url::parse_open(args) {
            Ok(parsed) => parsed,
            Err(message) => return self.usage(&message),
        };
        self.schema_changed = true;
        match self.runtime.block_on(self.client.open_with(&name, mode)) {
            Ok(db) => self.db = Some(db),
            Err(err) => {
                self.db = None;
                self.report(&err);
                eprintln!("no database is open now (.open NAME opens one)");
                if self.bail && self.script {
                    self.quit = true;
                }
            }
        }
    }

    fn read(&mut self, file: &str) {
        let script = match std::fs::read(file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) => return self.usage(&format!("cannot read {file}: {err}")),
        };
        let was_script = std::mem::replace(&mut self.script, true);
        for line in script.split('\n') {
            if self.quit {
                break;
            }
            self.feed(line);
        }
        self.finish();
        self.script = was_script;
    }

    fn backup(&mut self, file: &str) {
        let Some(db) = self.db.clone() else {
            return self.usage("no database is open: use .open NAME");
        };
        let result = std::fs::File::create(file)
            .map_err(|err| format!("cannot create {file}: {err}"))
            .and_then(|mut out| {
                self.runtime
                    .block_on(self.client.admin().backup(db.name(), &mut out))
                    .map_err(|err| err.to_string())
            });
        match result {
            Ok(bytes) => {
                let _ = writeln!(
                    self.out,
                    "backed up {} ({bytes} bytes) to {file}",
                    db.name()
                );
            }
            Err(err) => self.usage(&err),
        }
    }

    fn databases(&mut self) {
        match self.runtime.block_on(self.client.admin().list_databases()) {
            Ok(databases) => {
                let columns = ["name", "file_bytes", "wal_bytes", "open"].map(String::from);
                let mut printer = Printer::new(&self.settings, columns.to_vec());
                for d in databases {
                    let row = [
                        Value::Text(d.name),
                        Value::Integer(d.file_bytes as i64),
                        Value::Integer(d.wal_bytes as i64),
                        Value::Integer(i64::from(d.open)),
                    ];
                    let _ = printer.row(&mut self.out, &row);
                }
                let _ = printer.finish(&mut self.out);
            }
            Err(err) => self.report(&err),
        }
    }

    /// Runs a query of the shell's own and returns its rows.
    pub fn rows(&mut self, sql: &str, params: Vec<Value>) -> Option<Vec<Vec<Value>>> {
        let db = match self.target() {
            Ok(db) => db,
            Err(failure) => {
                self.fail(failure);
                return None;
            }
        };
        let result = self.interruptible(db.query_all(sql, params));
        match result {
            Some(Ok(rows)) => Some(rows.into_iter().map(|r| r.into_values()).collect()),
            Some(Err(err)) => {
                self.report(&err);
                None
            }
            None => {
                self.fail(crate::shell::Failure::Interrupted);
                None
            }
        }
    }

    /// Prints the first column of a query of the shell's own, one value a line.
    fn show_names(&mut self, sql: &str, params: Vec<Value>) {
        for row in self.rows(sql, params).unwrap_or_default() {
            if let Some(Value::Text(text)) = row.first() {
                let _ = writeln!(self.out, "{text}");
            }
        }
    }
}

/// ` AND (column LIKE ? OR …)` for the patterns given, and their values.
/// A test that `column` names none of Litestream's tables (`_litestream_seq`,
/// `_litestream_lock`): the listings leave them out, as they leave out SQLite's own, and a
/// replicating server refuses them to every client, so a `.dump` that read them would fail.
pub fn not_litestream(column: &str) -> String {
    format!("{column} NOT LIKE '\\_litestream\\_%' ESCAPE '\\'")
}

pub fn like_filter(column: &str, patterns: &[String]) -> (String, Vec<Value>) {
    if patterns.is_empty() {
        return (String::new(), Vec::new());
    }
    let tests: Vec<String> = patterns
        .iter()
        .map(|_| format!("{column} LIKE ?"))
        .collect();
    (
        format!(" AND ({})", tests.join(" OR ")),
        patterns.iter().map(|p| Value::Text(p.clone())).collect(),
    )
}
