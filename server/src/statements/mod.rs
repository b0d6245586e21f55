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
//! - [`StatementsStore`]: the catalog in force, swapped whole on reload (SIGHUP or RPC).

pub mod check;
pub mod file;
pub mod timestamp;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use sqlited_proto::v1::Value;

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
}

/// Every exposed statement, by database.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub databases: BTreeMap<String, DatabaseStatements>,
    /// `--exposed-only`: every database serves only exposed statements.
    pub exposed_only_everywhere: bool,
}

impl Catalog {
    /// The statement `name` of `database`, or NOT_FOUND naming what there is.
    pub fn get(&self, database: &str, name: &str) -> Result<Arc<Exposed>> {
        let statements = self.databases.get(database);
        statements
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
            })
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

/// The catalog in force.
pub struct StatementsStore {
    path: Option<PathBuf>,
    /// Where each statement is prepared to check it: on a reader of its database, in the
    /// workers like every SQLite connection.
    engine: Arc<Engine>,
    exposed_only: bool,
    current: RwLock<Arc<Catalog>>,
}

impl StatementsStore {
    /// Loads `path` (if any) against the databases of `engine`; fails start-up with the
    /// file, statement and SQLite's message when a statement does not check out.
    pub async fn open(
        path: Option<PathBuf>,
        engine: Arc<Engine>,
        exposed_only: bool,
    ) -> Result<Self> {
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
        }
        Ok(Self {
            path,
            engine,
            exposed_only,
            current: RwLock::new(Arc::new(catalog)),
        })
    }

    /// The catalog in force.
    pub fn current(&self) -> Arc<Catalog> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Reads the file again; a bad new file keeps the current catalog and says why.
    pub async fn reload(&self) -> Result<usize> {
        let Some(path) = &self.path else {
            return Err(Error::FailedPrecondition(
                "this server runs without a statements file (--statements); nothing to reload"
                    .into(),
            ));
        };
        match load(path, &self.engine, self.exposed_only).await {
            Ok(catalog) => {
                let count = catalog.len();
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalog);
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

/// Reads `path` and checks every statement against its database: each is prepared on a
/// reader of that database, and matched to its declaration.
async fn load(path: &Path, engine: &Engine, exposed_only: bool) -> Result<Catalog, String> {
    let catalog = file::read(path, exposed_only)?;
    for (database, statements) in &catalog.databases {
        if statements.statements.is_empty() {
            // Only settings (exposed_only, maps): nothing to prepare, and the database may be
            // created later.
            continue;
        }
        let in_file = |err: String| format!("{}: {err}", path.display());
        let db = match engine.database(database, &CancelToken::none()).await {
            Ok(db) => db,
            Err(Error::DatabaseNotFound(_)) => {
                return Err(in_file(format!(
                    "database {database:?} does not exist in {}: create it (and its tables) \
                     first, then load statements for it",
                    engine.data_dir().display()
                )));
            }
            Err(err) => return Err(in_file(format!("cannot open database {database:?}: {err}"))),
        };
        let sql = statements
            .statements
            .values()
            .map(|statement| statement.sql.clone())
            .collect();
        let prepared = db.prepare(sql, &CancelToken::none()).await.map_err(|err| {
            in_file(format!(
                "cannot check the statements of {database:?}: {err}"
            ))
        })?;
        file::match_prepared(database, statements, &prepared).map_err(in_file)?;
    }
    Ok(catalog)
}
