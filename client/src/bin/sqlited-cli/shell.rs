//! The shell's state and what it does with each line: SQL until a complete statement, or a
//! dot command.

use std::time::Instant;

use sqlited_client::{Client, Database, Error, Value};
use tokio::runtime::Runtime;

use crate::output::{Mode, render};
use crate::split::split;

const HELP: &str = "\
.backup FILE        Write a consistent backup of the database to FILE
.databases          List the server's databases with their sizes
.help               Show this help
.mode MODE          Output mode: table, csv, json or line
.quit / .exit       Leave
.read FILE          Run the SQL in FILE
.schema [TABLE]     Show the CREATE statements (of TABLE)
.tables             List the tables and views
.timer on|off       Show how long each statement took
Anything else is SQL, run when a line ends a complete statement with ';'.";

/// What the shell is connected to and how it prints.
pub struct Shell {
    runtime: Runtime,
    client: Client,
    db: Database,
    pub mode: Mode,
    timer: bool,
    /// SQL typed so far that does not end a statement yet.
    pending: String,
    /// Whether any statement or command failed (the exit code says so).
    pub failed: bool,
    /// Set by `.quit`.
    pub quit: bool,
}

impl Shell {
    /// Connects to `server` and its `database`.
    pub fn connect(
        server: &str,
        database: &str,
        mode: Mode,
        options: sqlited_client::ClientOptions,
    ) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let client = runtime.block_on(Client::connect_with(server, options))?;
        let db = client.database(database);
        Ok(Self {
            runtime,
            client,
            db,
            mode,
            timer: false,
            pending: String::new(),
            failed: false,
            quit: false,
        })
    }

    /// Whether a statement is half typed (for the continuation prompt).
    pub fn in_statement(&self) -> bool {
        !self.pending.trim().is_empty()
    }

    /// Handles one line of input.
    pub fn feed(&mut self, line: &str) {
        if !self.in_statement() && line.trim_start().starts_with('.') {
            self.dot(line.trim());
            return;
        }
        self.pending.push_str(line);
        self.pending.push('\n');
        let (statements, rest) = split(&self.pending);
        self.pending = rest;
        for statement in statements {
            self.run(&statement);
        }
    }

    /// Runs what is left at the end of the input, complete or not.
    pub fn finish(&mut self) {
        let rest = std::mem::take(&mut self.pending);
        if !rest.trim().is_empty() {
            self.run(rest.trim());
        }
    }

    fn report(&mut self, err: &Error) {
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
        eprintln!("Error: {}: {}{detail}", err.kind().name(), err.message());
    }

    fn query(
        &self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<(Vec<String>, Vec<Vec<Value>>), Error> {
        self.runtime.block_on(async {
            let mut rows = self.db.query(sql, params).await?;
            let columns = rows
                .columns()
                .iter()
                .map(|c| c.name().to_string())
                .collect();
            let mut all = Vec::new();
            while let Some(row) = rows.next().await? {
                all.push(row.into_values());
            }
            Ok((columns, all))
        })
    }

    /// Runs one statement and prints its rows.
    fn run(&mut self, sql: &str) {
        let started = Instant::now();
        match self.query(sql, Vec::new()) {
            Ok((columns, rows)) => print!("{}", render(self.mode, &columns, &rows)),
            Err(err) => self.report(&err),
        }
        if self.timer {
            println!("Run Time: real {:.3}", started.elapsed().as_secs_f64());
        }
    }

    fn dot(&mut self, line: &str) {
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or_default();
        let arg = words.next();
        match (command, arg) {
            (".help", _) => println!("{HELP}"),
            (".quit" | ".exit", _) => self.quit = true,
            (".mode", Some(name)) => match Mode::parse(name) {
                Some(mode) => self.mode = mode,
                None => self.usage("unknown mode; use table, csv, json or line"),
            },
            (".timer", Some("on")) => self.timer = true,
            (".timer", Some("off")) => self.timer = false,
            (".tables", None) => self.show(
                "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') \
                 AND name NOT LIKE 'sqlite_%' ORDER BY name",
                Vec::new(),
            ),
            (".schema", table) => {
                let (filter, params) = match table {
                    Some(t) => (" AND tbl_name = ?", vec![Value::Text(t.to_string())]),
                    None => ("", Vec::new()),
                };
                self.show(
                    &format!("SELECT sql || ';' FROM sqlite_schema WHERE sql IS NOT NULL{filter} ORDER BY type DESC, name"),
                    params,
                );
            }
            (".databases", None) => {
                match self.runtime.block_on(self.client.admin().list_databases()) {
                    Ok(databases) => {
                        let columns = ["name", "file_bytes", "wal_bytes", "open"]
                            .map(String::from)
                            .to_vec();
                        let rows: Vec<Vec<Value>> = databases
                            .into_iter()
                            .map(|d| {
                                vec![
                                    Value::Text(d.name),
                                    Value::Integer(d.file_bytes as i64),
                                    Value::Integer(d.wal_bytes as i64),
                                    Value::Integer(i64::from(d.open)),
                                ]
                            })
                            .collect();
                        print!("{}", render(self.mode, &columns, &rows));
                    }
                    Err(err) => self.report(&err),
                }
            }
            (".read", Some(file)) => match std::fs::read_to_string(file) {
                Ok(script) => {
                    for line in script.lines() {
                        self.feed(line);
                    }
                    self.finish();
                }
                Err(err) => self.usage(&format!("cannot read {file}: {err}")),
            },
            (".backup", Some(file)) => {
                let result = std::fs::File::create(file)
                    .map_err(|err| format!("cannot create {file}: {err}"))
                    .and_then(|mut out| {
                        let name = self.db.name().to_string();
                        self.runtime
                            .block_on(self.client.admin().backup(&name, &mut out))
                            .map_err(|err| err.to_string())
                    });
                match result {
                    Ok(bytes) => println!("backed up {} ({bytes} bytes) to {file}", self.db.name()),
                    Err(err) => self.usage(&err),
                }
            }
            _ => self.usage(&format!(
                "unknown or incomplete command {line:?}; try .help"
            )),
        }
    }

    /// Runs a query of the shell's own and prints its first column as plain lines.
    fn show(&mut self, sql: &str, params: Vec<Value>) {
        match self.query(sql, params) {
            Ok((_, rows)) => {
                for row in rows {
                    if let Some(Value::Text(text)) = row.first() {
                        println!("{text}");
                    }
                }
            }
            Err(err) => self.report(&err),
        }
    }

    fn usage(&mut self, message: &str) {
        self.failed = true;
        eprintln!("Error: {message}");
    }
}
