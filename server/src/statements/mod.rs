//! Exposed statements: named, typed, validated queries declared in a statements file
//! (`--statements`, TOML), called with named arguments through `sqlited.v1.Statements/Call`.
//! Every argument is checked before any SQL runs, every violation reported at once; a
//! database marked `exposed_only` serves nothing else but the persistent maps the file
//! declares for it.
//!
//! Layout:
//! - [`file`]: the file's format, parsed into a [`Catalog`], and the checks of what SQLite
//!   makes of each statement (prepared on a reader of its database, through the engine:
//!   its placeholders matched to its parameters, its `writes` to what it does).
//! - [`check`]: an argument against its parameter: type, coercion, bounds, regex, one_of.
//! - [`timestamp`]: ISO-8601 date-times to unix seconds and back.
//! - [`StatementsStore`]: the catalog in force, swapped whole on reload (SIGHUP or RPC), and
//!   the statements of a database that does not exist yet, loaded but unavailable until it
//!   does and they check out ([`Unavailable`]).

pub mod check;
pub mod file;
pub mod timestamp;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sqlited_proto::v1::Value;
use tokio::sync::watch;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::worker::cancel::CancelToken;

/// What an argument must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Integer,
    Real,
    Text,
    Blob,
    Bool,
    /// Bound as ISO-8601 text (`store = "text"`, the default) or unix seconds.
    Timestamp {
        unix: bool,
    },
}

impl Kind {
    /// The name used in the file and in ListStatements.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Integer => "integer",
            Kind::Real => "real",
            Kind::Text => "text",
            Kind::Blob => "blob",
            Kind::Bool => "bool",
            Kind::Timestamp { .. } => "timestamp",
        }
    }
}

/// One parameter's declaration.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub kind: Kind,
    pub nullable: bool,
    pub default: Option<Value>,
    pub coerce: bool,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    /// The source and the compiled pattern (anchored at both ends).
    pub regex: Option<(String, regex::Regex)>,
    pub one_of: Vec<Value>,
    pub description: String,
}

/// One exposed statement.
#[derive(Debug, Clone)]
pub struct Exposed {
    pub name: String,
    pub sql: String,
    pub writes: bool,
    pub description: String,
    /// In declaration order.
    pub params: Vec<Param>,
}

/// The exposed statements of one database.
#[derive(Debug, Clone, Default)]
pub struct DatabaseStatements {
    /// Execute, Query and ExecuteBatch are refused: only Call.
    pub exposed_only: bool,
    /// The persistent maps declared for the database (`maps = [...]`): served by KeyValue even
    /// when the database is exposed-only, and creatable by a write token (creating any other
    /// map is a schema change, for admin).
    pub maps: BTreeSet<String>,
    pub statements: BTreeMap<String, Arc<Exposed>>,
    /// Why its statements cannot be called yet; `None`: they checked out against the
    /// database (or there are none).
    pub unavailable: Option<Unavailable>,
}

/// Why a database's statements cannot be called yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// The database does not exist: a first deploy, before the application created it.
    NoDatabase,
    /// It exists, but its statements did not check out against it (its tables are not
    /// there yet, say): SQLite's message.
    Unchecked(String),
}

impl Unavailable {
    /// The reason, for ListStatements, the OpenAPI document and a refused Call.
    pub fn reason(&self, database: &str) -> String {
        match self {
            Self::NoDatabase => format!(
                "database {database:?} does not exist yet; its statements are checked and \
                 served once it is created"
            ),
            Self::Unchecked(why) => format!(
                "the statements of {database:?} do not check out against it yet: {why}; \
                 they are checked again at the next call"
            ),
        }
    }
}

/// Every exposed statement, by database.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub databases: BTreeMap<String, DatabaseStatements>,
    /// `--exposed-only`: every database serves only exposed statements.
    pub exposed_only_everywhere: bool,
}

impl Catalog {
    /// The statement `name` of `database`: NOT_FOUND naming what there is, or, while the
    /// database's statements cannot be called, NOT_FOUND (no database) or
    /// FAILED_PRECONDITION with the reason.
    pub fn get(&self, database: &str, name: &str) -> Result<Arc<Exposed>> {
        let statements = self.databases.get(database);
        let statement = statements
            .and_then(|d| d.statements.get(name))
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = statements
                    .map(|d| d.statements.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                Error::StatementNotFound(format!(
                    "database {database:?} exposes no statement {name:?}{}",
                    if known.is_empty() {
                        " (it exposes none)".to_string()
                    } else {
                        format!("; it exposes: {}", known.join(", "))
                    }
                ))
            })?;
        match statements.and_then(|d| d.unavailable.as_ref()) {
            None => Ok(statement),
            Some(why @ Unavailable::NoDatabase) => Err(Error::DatabaseNotFound(format!(
                "{name} cannot be called yet: {}",
                why.reason(database)
            ))),
            Some(why @ Unavailable::Unchecked(_)) => Err(Error::FailedPrecondition(format!(
                "{name} cannot be called yet: {}",
                why.reason(database)
            ))),
        }
    }

    /// Why the statements of `database` cannot be called yet, if they cannot.
    pub fn unavailable(&self, database: &str) -> Option<String> {
        let why = self.databases.get(database)?.unavailable.as_ref()?;
        Some(why.reason(database))
    }

    /// Whether `database` serves only exposed statements.
    pub fn exposed_only(&self, database: &str) -> bool {
        self.exposed_only_everywhere || self.databases.get(database).is_some_and(|d| d.exposed_only)
    }

    /// Whether any database serves only exposed statements.
    pub fn any_exposed_only(&self) -> bool {
        self.exposed_only_everywhere || self.databases.values().any(|d| d.exposed_only)
    }

    /// Whether the statements file declares map `map` for `database`.
    pub fn declares_map(&self, database: &str, map: &str) -> bool {
        self.databases
            .get(database)
            .is_some_and(|d| d.maps.contains(map))
    }

    /// How many statements are exposed.
    pub fn len(&self) -> usize {
        self.databases.values().map(|d| d.statements.len()).sum()
    }
}

/// The catalog in force. Statements of a database that does not exist yet are loaded but
/// unavailable; they are checked when the database opens (created, or restored) and again
/// whenever one is called, listed or its database's health is asked while they are not
/// (the tables may come after the database), and go back to unavailable when it is dropped.
pub struct StatementsStore {
    path: Option<PathBuf>,
    /// Where each statement is prepared to check it: on a reader of its database, in the
    /// workers like every SQLite connection.
    engine: Arc<Engine>,
    exposed_only: bool,
    /// The catalog in force, swapped whole; its receivers (health) follow each change.
    current: watch::Sender<Arc<Catalog>>,
    /// Held by each load and check, so each swaps in a catalog made from the one in force.
    turn: tokio::sync::Mutex<()>,
}

impl StatementsStore {
    /// Loads `path` (if any) against the databases of `engine`; fails start-up with the
    /// file, statement and SQLite's message when a statement does not check out against
    /// its database. Those of a database that does not exist wait for it.
    pub async fn open(
        path: Option<PathBuf>,
        engine: Arc<Engine>,
        exposed_only: bool,
    ) -> Result<Arc<Self>> {
        let catalog = match &path {
            Some(path) => load(path, &engine, exposed_only)
                .await
                .map_err(Error::Internal)?,
            None => Catalog {
                exposed_only_everywhere: exposed_only,
                ..Catalog::default()
            },
        };
        if let Some(path) = &path {
            tracing::info!(path = %path.display(), statements = catalog.len(), "exposed statements loaded");
            // Named to the operator above; a reload's error tells a client "the statements
            // file".
            crate::error::hide_path(path, false, "the statements file");
            log_unavailable(&catalog);
        }
        let store = Arc::new(Self {
            path,
            engine,
            exposed_only,
            current: watch::Sender::new(Arc::new(catalog)),
            turn: tokio::sync::Mutex::new(()),
        });
        if store.has_file() {
            store.follow_databases();
        }
        Ok(store)
    }

    /// The catalog in force.
    pub fn current(&self) -> Arc<Catalog> {
        Arc::clone(&self.current.borrow())
    }

    /// The catalog in force from now on, at each change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Catalog>> {
        self.current.subscribe()
    }

    /// The statement `name` of `database` ([`Catalog::get`]), its database's statements
    /// checked first if they were not callable.
    pub async fn statement(&self, database: &str, name: &str) -> Result<Arc<Exposed>> {
        let catalog = self.current();
        if catalog
            .databases
            .get(database)
            .is_some_and(|d| d.unavailable.is_some() && d.statements.contains_key(name))
        {
            self.check(database).await;
            return self.current().get(database, name);
        }
        catalog.get(database, name)
    }

    /// The catalog in force, after checking the statements not callable yet of the
    /// databases `visible` names (those a ListStatements or the OpenAPI document shows).
    pub async fn checked(&self, visible: impl Fn(&str) -> bool) -> Arc<Catalog> {
        let waiting: Vec<String> = self
            .current()
            .databases
            .iter()
            .filter(|(name, d)| d.unavailable.is_some() && visible(name))
            .map(|(name, _)| name.clone())
            .collect();
        for database in waiting {
            self.check(&database).await;
        }
        self.current()
    }

    /// Checks the statements of `database` against it if they are not callable yet, and
    /// makes them callable if they check out.
    pub async fn check(&self, database: &str) {
        let _turn = self.turn.lock().await;
        let catalog = self.current();
        let Some(statements) = catalog.databases.get(database) else {
            return;
        };
        let Some(before) = &statements.unavailable else {
            return;
        };
        let after = match verify(&self.engine, database, statements).await {
            Ok(()) => None,
            Err(Failure::NoDatabase) => Some(Unavailable::NoDatabase),
            Err(Failure::Bad(why)) => Some(Unavailable::Unchecked(why)),
        };
        if after.as_ref() == Some(before) {
            return;
        }
        match &after {
            None => {
                tracing::info!(
                    database,
                    "its exposed statements check out: served from now on"
                );
            }
            Some(why) => {
                tracing::warn!(database, reason = %why.reason(database), "exposed statements not callable yet");
            }
        }
        self.swap(&catalog, database, after);
    }

    /// A dropped database's statements wait for it to exist again (checked at once if it
    /// was created again meanwhile).
    async fn forget(&self, database: &str) {
        {
            let _turn = self.turn.lock().await;
            let catalog = self.current();
            if !catalog
                .databases
                .get(database)
                .is_some_and(|d| !d.statements.is_empty() && d.unavailable.is_none())
            {
                return;
            }
            tracing::info!(
                database,
                "database dropped: its exposed statements wait for it"
            );
            self.swap(&catalog, database, Some(Unavailable::NoDatabase));
        }
        if self.engine.exists(database) {
            self.check(database).await;
        }
    }

    /// Puts in force `catalog` with `database`'s availability set to `unavailable`; the
    /// caller holds the turn.
    fn swap(&self, catalog: &Catalog, database: &str, unavailable: Option<Unavailable>) {
        let mut next = catalog.clone();
        if let Some(entry) = next.databases.get_mut(database) {
            entry.unavailable = unavailable;
        }
        self.current.send_replace(Arc::new(next));
    }

    /// Follows the engine: a database that opens has its statements checked, one dropped
    /// has them wait for it again.
    fn follow_databases(self: &Arc<Self>) {
        let mut opened = self.engine.subscribe_opened();
        let mut dropped = self.engine.subscribe_dropped();
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                let (event, open) = tokio::select! {
                    name = opened.recv() => (name, true),
                    name = dropped.recv() => (name, false),
                };
                let Some(store) = store.upgrade() else {
                    return;
                };
                match event {
                    Ok(name) if open => store.check(&name).await,
                    Ok(name) => store.forget(&name).await,
                    // Events missed: look at every database again.
                    Err(RecvError::Lagged(_)) => {
                        for name in store.current().databases.keys() {
                            if store.engine.exists(name) {
                                store.check(name).await;
                            } else {
                                store.forget(name).await;
                            }
                        }
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    /// Reads the file again; a bad new file keeps the current catalog and says why.
    pub async fn reload(&self) -> Result<usize> {
        let Some(path) = &self.path else {
            return Err(Error::FailedPrecondition(
                "this server runs without a statements file (--statements); nothing to reload"
                    .into(),
            ));
        };
        let _turn = self.turn.lock().await;
        match load(path, &self.engine, self.exposed_only).await {
            Ok(catalog) => {
                let count = catalog.len();
                log_unavailable(&catalog);
                self.current.send_replace(Arc::new(catalog));
                tracing::info!(path = %path.display(), statements = count, "statements reloaded");
                Ok(count)
            }
            Err(message) => {
                tracing::error!(error = %message, "the statements file was not reloaded; the previous statements stay in force");
                Err(Error::FailedPrecondition(format!(
                    "the statements file was not reloaded, the previous statements stay in \
                     force: {message}"
                )))
            }
        }
    }

    /// Whether a statements file is in use.
    pub fn has_file(&self) -> bool {
        self.path.is_some()
    }
}

/// Warns of each database whose statements are loaded but not callable yet.
fn log_unavailable(catalog: &Catalog) {
    for (database, statements) in &catalog.databases {
        if let Some(why) = &statements.unavailable {
            tracing::warn!(database = %database, statements = statements.statements.len(), reason = %why.reason(database), "exposed statements not callable yet");
        }
    }
}

/// Why the statements of a database did not check out.
enum Failure {
    /// The database does not exist.
    NoDatabase,
    /// What is wrong (a statement that does not prepare or does not match its declaration,
    /// a database that cannot be opened).
    Bad(String),
}

/// Checks the statements of `database` against it: each is prepared on a reader of it, and
/// matched to its declaration.
async fn verify(
    engine: &Engine,
    database: &str,
    statements: &DatabaseStatements,
) -> Result<(), Failure> {
    if statements.statements.is_empty() {
        return Ok(());
    }
    let db = match engine.database(database, &CancelToken::none()).await {
        Ok(db) => db,
        Err(Error::DatabaseNotFound(_)) => return Err(Failure::NoDatabase),
        Err(err) => {
            return Err(Failure::Bad(format!(
                "cannot open database {database:?}: {err}"
            )));
        }
    };
    let sql = statements
        .statements
        .values()
        .map(|statement| statement.sql.clone())
        .collect();
    let prepared = db.prepare(sql, &CancelToken::none()).await.map_err(|err| {
        Failure::Bad(format!(
            "cannot check the statements of {database:?}: {err}"
        ))
    })?;
    file::match_prepared(database, statements, &prepared).map_err(Failure::Bad)
}

/// Reads `path` and checks every statement against its database. A statement that does not
/// check out fails the load; the statements of a database that does not exist are loaded
/// unavailable, to be checked once it does.
async fn load(path: &Path, engine: &Engine, exposed_only: bool) -> Result<Catalog, String> {
    let mut catalog = file::read(path, exposed_only)?;
    for (database, statements) in &mut catalog.databases {
        match verify(engine, database, statements).await {
            Ok(()) => {}
            Err(Failure::NoDatabase) => statements.unavailable = Some(Unavailable::NoDatabase),
            Err(Failure::Bad(why)) => return Err(format!("{}: {why}", path.display())),
        }
    }
    Ok(catalog)
}
