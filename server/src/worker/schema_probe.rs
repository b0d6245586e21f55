//! Refusing, when it is created, a schema object whose SQL calls a function that may not run
//! from a schema: `fts3_tokenizer()` (refused to every statement), and every function an
//! untrusted schema may not call (`SQLITE_DBCONFIG_TRUSTED_SCHEMA` is off), such as
//! `load_extension()`. SQLite checks a CHECK constraint, a generated column and an index
//! expression when it creates them, but a view, a trigger and a column's DEFAULT only when a
//! statement uses them: without this, such an object would be accepted and then fail every
//! statement that touches it.
//!
//! So after a client's statement that created or altered one ran (inside a savepoint of its
//! own), the server prepares — never runs — the statements that compile every expression of
//! it: `SELECT * FROM view`, `INSERT … DEFAULT VALUES` (defaults, CHECK, generated columns,
//! INSERT triggers), `UPDATE` of every column and `DELETE` (the other triggers). The
//! authorizer then refuses nothing but those functions ([`Sqlite::probe`]). A refusal, or
//! SQLite's "unsafe use of …()", refuses the statement and rolls it back; any other error
//! (a view over a table that does not exist yet) is SQLite's to report when the object is
//! used, as it allows such objects.

use rusqlite::hooks::AuthAction;

use super::connection::Sqlite;
use crate::error::{Error, Result};

/// A schema object a client's statement creates, or alters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaObject {
    View {
        schema: String,
        name: String,
    },
    Trigger {
        schema: String,
        name: String,
        table: String,
    },
    /// A table made or altered, or the table of a new index.
    Table {
        schema: String,
        name: String,
    },
}

impl SchemaObject {
    /// The object `action` (on the schema `database`) creates or alters, if it is one whose
    /// expressions SQLite checks only when they are used.
    pub fn made_by(action: &AuthAction<'_>, database: Option<&str>) -> Option<Self> {
        use AuthAction::*;
        let schema = database.unwrap_or("main").to_string();
        match action {
            CreateView { view_name } => Some(Self::View {
                schema,
                name: view_name.to_string(),
            }),
            CreateTempView { view_name } => Some(Self::View {
                schema: "temp".into(),
                name: view_name.to_string(),
            }),
            CreateTrigger {
                trigger_name,
                table_name,
            } => Some(Self::Trigger {
                schema,
                name: trigger_name.to_string(),
                table: table_name.to_string(),
            }),
            CreateTempTrigger {
                trigger_name,
                table_name,
            } => Some(Self::Trigger {
                schema: "temp".into(),
                name: trigger_name.to_string(),
                table: table_name.to_string(),
            }),
            CreateTable { table_name } | CreateIndex { table_name, .. } => Some(Self::Table {
                schema,
                name: table_name.to_string(),
            }),
            CreateTempTable { table_name } | CreateTempIndex { table_name, .. } => {
                Some(Self::Table {
                    schema: "temp".into(),
                    name: table_name.to_string(),
                })
            }
            AlterTable {
                database_name,
                table_name,
            } => Some(Self::Table {
                schema: database_name.to_string(),
                name: table_name.to_string(),
            }),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::View { name, .. } => format!("view {name:?}"),
            Self::Trigger { name, .. } => format!("trigger {name:?}"),
            Self::Table { name, .. } => {
                format!("table {name:?} (a DEFAULT, CHECK or generated column)")
            }
        }
    }

    /// The statements that compile every expression of the object.
    fn probes(&self, db: &Sqlite) -> Vec<String> {
        let quoted = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
        match self {
            Self::View { schema, name } => {
                vec![format!("SELECT * FROM {}.{}", quoted(schema), quoted(name))]
            }
            Self::Table { schema, name } => vec![format!(
                "INSERT INTO {}.{} DEFAULT VALUES",
                quoted(schema),
                quoted(name)
            )],
            Self::Trigger { schema, table, .. } => {
                // A TEMP trigger may watch a table of `main`: unqualified, the name finds
                // the TEMP table first, as SQLite does for the trigger.
                let temp = schema.eq_ignore_ascii_case("temp");
                let target = if temp {
                    quoted(table)
                } else {
                    format!("{}.{}", quoted(schema), quoted(table))
                };
                let mut probes = vec![
                    format!("INSERT INTO {target} DEFAULT VALUES"),
                    format!("DELETE FROM {target}"),
                ];
                let schema = (!temp).then_some(schema.as_str());
                let columns = db
                    .trusted(|| columns(db, schema, table))
                    .unwrap_or_default();
                if !columns.is_empty() {
                    let sets: Vec<String> = columns
                        .iter()
                        .map(|c| format!("{0} = {0}", quoted(c)))
                        .collect();
                    probes.push(format!("UPDATE {target} SET {}", sets.join(", ")));
                }
                probes
            }
        }
    }
}

/// The columns an UPDATE of `table` (in `schema`, or the first schema that has it) may set:
/// neither generated nor hidden.
fn columns(db: &Sqlite, schema: Option<&str>, table: &str) -> rusqlite::Result<Vec<String>> {
    db.conn()
        .prepare("SELECT name FROM pragma_table_xinfo(?1, ?2) WHERE hidden = 0")?
        .query_map(rusqlite::params![table, schema], |row| row.get(0))?
        .collect()
}

/// Refuses the first of `objects` whose expressions call a function no schema may call.
pub fn check(db: &Sqlite, objects: &[SchemaObject]) -> Result<()> {
    for object in objects {
        for probe in object.probes(db) {
            if let Some(why) = db.probe(&probe) {
                return Err(Error::PermissionDenied(format!(
                    "the {} would fail every statement that uses it, so it is refused when it \
                     is created: {why}",
                    object.describe()
                )));
            }
        }
    }
    Ok(())
}
