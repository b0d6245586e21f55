//! The statements file and its checks. Format (TOML):
//!
//! ```toml
//! [databases.app]
//! exposed_only = true          # Execute, Query and ExecuteBatch refused on `app`
//! maps = ["sessions"]          # the persistent maps `app` serves (KeyValue) even so; a
//!                              # write token may create them
//!
//! [databases.app.statements.add_user]
//! sql = "INSERT INTO users (name, age) VALUES (:name, :age)"
//! writes = true
//! description = "Adds a user."
//! params.name = { type = "text", min_length = 1, max_length = 64, regex = "[a-z]+" }
//! params.age = { type = "integer", min = 0, max = 150, coerce = true, default = 18 }
//! ```
//!
//! Parameter types: integer, real, text, blob, bool, timestamp (`store = "text"` binds
//! ISO-8601, `"unix"` seconds). Checks: nullable, default, coerce, min, max, min_length,
//! max_length, regex (must match the whole text), one_of, description.
//!
//! Loading prepares every statement against its database: SQL that does not prepare, a
//! placeholder without a declaration, a declaration without a placeholder, positional
//! placeholders, or a `writes` that does not match what the SQL does fail the load with the
//! file, the statement and the reason. The statements of a database that does not exist
//! yet are loaded unavailable and checked once it does (`StatementsStore`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use sqlited_proto::v1::Value;
use sqlited_proto::v1::value::Kind as V;

use super::{Catalog, DatabaseStatements, Exposed, Kind, Param, check};
use crate::name;
use crate::worker::job::Prepared;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    databases: BTreeMap<String, DatabaseEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseEntry {
    #[serde(default)]
    exposed_only: bool,
    #[serde(default)]
    maps: Vec<String>,
    #[serde(default)]
    statements: BTreeMap<String, StatementEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatementEntry {
    sql: String,
    #[serde(default)]
    writes: bool,
    #[serde(default)]
    description: String,
    #[serde(default)]
    params: BTreeMap<String, ParamEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    nullable: bool,
    default: Option<toml::Value>,
    #[serde(default)]
    coerce: bool,
    min: Option<f64>,
    max: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    regex: Option<String>,
    #[serde(default)]
    one_of: Vec<toml::Value>,
    #[serde(default)]
    description: String,
    store: Option<String>,
}

/// Reads `path`: the catalog it declares, not yet checked against its databases
/// ([`match_prepared`] does that, with what SQLite makes of each statement).
pub fn read(path: &Path, exposed_only: bool) -> Result<Catalog, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read the statements file {}: {err}", path.display()))?;
    let mut catalog = parse(&text).map_err(|err| format!("{}: {err}", path.display()))?;
    catalog.exposed_only_everywhere = exposed_only;
    Ok(catalog)
}

/// The catalog a file's text declares, before it is checked against the databases.
pub fn parse(text: &str) -> Result<Catalog, String> {
    let file: File = toml::from_str(text).map_err(|err| err.to_string())?;
    let mut catalog = Catalog::default();
    for (database, entry) in file.databases {
        name::validate(&database).map_err(|err| format!("databases.{database}: {err}"))?;
        let mut maps = BTreeSet::new();
        for map in entry.maps {
            if !name::is_valid(&map) {
                return Err(format!(
                    "databases.{database}.maps: invalid map name {map:?}: {}",
                    name::RULE
                ));
            }
            maps.insert(map);
        }
        let mut statements = BTreeMap::new();
        for (statement, decl) in entry.statements {
            let at = format!("databases.{database}.statements.{statement}");
            if !name::is_valid(&statement) {
                return Err(format!("{at}: invalid statement name: {}", name::RULE));
            }
            let mut params = Vec::new();
            for (param, p) in decl.params {
                params.push(
                    parameter(&param, p).map_err(|err| format!("{at}.params.{param}: {err}"))?,
                );
            }
            statements.insert(
                statement.clone(),
                Arc::new(Exposed {
                    name: statement,
                    sql: decl.sql,
                    writes: decl.writes,
                    description: decl.description,
                    params,
                }),
            );
        }
        catalog.databases.insert(
            database,
            DatabaseStatements {
                exposed_only: entry.exposed_only,
                maps,
                statements,
                unavailable: None,
            },
        );
    }
    Ok(catalog)
}

fn parameter(name: &str, p: ParamEntry) -> Result<Param, String> {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err("a parameter name is a letter or '_', then letters, digits or '_'".into());
    }
    let kind = match (p.kind.as_str(), p.store.as_deref()) {
        ("integer", None) => Kind::Integer,
        ("real", None) => Kind::Real,
        ("text", None) => Kind::Text,
        ("blob", None) => Kind::Blob,
        ("bool", None) => Kind::Bool,
        ("timestamp", None | Some("text")) => Kind::Timestamp { unix: false },
        ("timestamp", Some("unix")) => Kind::Timestamp { unix: true },
        ("timestamp", Some(other)) => {
            return Err(format!(
                "store {other:?}: a timestamp is stored as \"text\" or \"unix\""
            ));
        }
        (_, Some(_)) => return Err("store applies to timestamps only".into()),
        (other, None) => {
            return Err(format!(
                "type {other:?}: use integer, real, text, blob, bool or timestamp"
            ));
        }
    };
    let regex = match p.regex {
        Some(source) => {
            let anchored = format!("^(?:{source})$");
            let compiled = regex::Regex::new(&anchored)
                .map_err(|err| format!("regex {source:?} does not compile: {err}"))?;
            Some((source, compiled))
        }
        None => None,
    };
    if regex.is_some() && kind != Kind::Text {
        return Err("regex applies to text parameters only".into());
    }
    if let (Some(min), Some(max)) = (p.min, p.max)
        && min > max
    {
        return Err(format!("min {min} is above max {max}"));
    }
    let mut param = Param {
        name: name.to_string(),
        kind,
        nullable: p.nullable,
        default: None,
        coerce: p.coerce,
        min: p.min,
        max: p.max,
        min_length: p.min_length,
        max_length: p.max_length,
        regex,
        one_of: Vec::new(),
        description: p.description,
    };
    let mut one_of = Vec::new();
    for value in &p.one_of {
        let value = check::argument(&param, Some(&from_toml(value)?))
            .map_err(|err| format!("one_of value {value:?}: {err}"))?;
        one_of.push(value);
    }
    param.one_of = one_of;
    if let Some(default) = &p.default {
        // The default must pass the declaration itself.
        param.default = Some(
            check::argument(&param, Some(&from_toml(default)?))
                .map_err(|err| format!("default {default:?}: {err}"))?,
        );
    }
    Ok(param)
}

fn from_toml(value: &toml::Value) -> Result<Value, String> {
    let kind = match value {
        toml::Value::Integer(i) => V::Integer(*i),
        toml::Value::Float(f) => V::Real(*f),
        toml::Value::String(s) => V::Text(s.clone()),
        toml::Value::Boolean(b) => V::Integer(i64::from(*b)),
        toml::Value::Datetime(d) => V::Text(d.to_string()),
        other => return Err(format!("{other:?} is not a single value")),
    };
    Ok(Value { kind: Some(kind) })
}

/// Matches each statement of `database` to what SQLite made of it (`prepared`, in the order
/// of `statements.statements`): it prepares, its placeholders are its declared parameters,
/// by name, and its `writes` is true.
pub fn match_prepared(
    database: &str,
    statements: &DatabaseStatements,
    prepared: &[Prepared],
) -> Result<(), String> {
    for ((name, statement), prepared) in statements.statements.iter().zip(prepared) {
        let at = format!("databases.{database}.statements.{name}");
        if let Some(err) = &prepared.error {
            return Err(format!("{at}: the SQL does not prepare: {err}"));
        }
        let mut used = BTreeSet::new();
        for placeholder in &prepared.placeholders {
            match placeholder {
                Some(placeholder) if !placeholder.starts_with('?') => {
                    used.insert(placeholder[1..].to_string());
                }
                _ => {
                    return Err(format!(
                        "{at}: the SQL uses a positional placeholder (?); exposed statements \
                         name theirs (:name)"
                    ));
                }
            }
        }
        let declared: BTreeSet<String> = statement.params.iter().map(|p| p.name.clone()).collect();
        if let Some(missing) = used.difference(&declared).next() {
            return Err(format!(
                "{at}: the SQL uses :{missing}, which is not declared (add params.{missing})"
            ));
        }
        if let Some(unused) = declared.difference(&used).next() {
            return Err(format!(
                "{at}: params.{unused} is declared but the SQL does not use :{unused}"
            ));
        }
        if prepared.writes != statement.writes {
            return Err(format!(
                "{at}: the SQL {} but the statement says writes = {}",
                if prepared.writes {
                    "writes"
                } else {
                    "only reads"
                },
                statement.writes
            ));
        }
    }
    Ok(())
}
