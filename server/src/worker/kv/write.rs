//! Writes to persistent maps, run by the writer inside its group commit, so each is atomic
//! (its own savepoint) and durable when acknowledged.
//!
//! These writes run outside the authorizer (the SQL is the server's), so the rule of roles is
//! kept here: a write that would create a map's table, a schema change, does so only when the
//! service says it `may_create`; removals from a map that has no table create nothing.

use rusqlite::OptionalExtension;
use sqlited_proto::v1::Entry;

use super::{exists, table};
use crate::error::{Error, Result};
use crate::worker::connection::Sqlite;

/// What to write.
#[derive(Debug)]
pub enum KvWrite {
    Set {
        map: String,
        key: Vec<u8>,
        value: Vec<u8>,
        if_absent: bool,
        if_version: i64,
        /// Whether a missing map may be created (see [`KvWrite::SetMany`]).
        may_create: bool,
    },
    Delete {
        map: String,
        key: Vec<u8>,
    },
    SetMany {
        map: String,
        entries: Vec<Entry>,
        /// Answer what each entry replaced, in `KvWritten::results`.
        return_previous: bool,
        /// Whether a missing map may be created: the request's role may change the schema
        /// (admin), or the statements file declares the map. Otherwise PERMISSION_DENIED.
        may_create: bool,
    },
    DeleteMany {
        map: String,
        keys: Vec<Vec<u8>>,
    },
    Clear {
        map: String,
    },
}

/// What a write did.
#[derive(Debug, Default)]
pub struct KvWritten {
    /// Whether it changed the map (a failed compare-and-set did not).
    pub applied: bool,
    /// The entry the key held before (or holds, when not applied).
    pub previous: Option<Entry>,
    /// The key's version afterwards.
    pub version: i64,
    /// Entries set or removed, for the many-key writes.
    pub count: u64,
    /// For a `SetMany` with `return_previous`: each entry's previous entry and new version.
    pub results: Vec<(Option<Entry>, i64)>,
}

/// Makes sure the table of `map` is there before a write that adds entries: creates it if
/// `may_create`, else refuses, saying which role or declaration would do.
fn ensure(db: &Sqlite, map: &str, may_create: bool) -> Result<()> {
    if exists(db, map)? {
        return Ok(());
    }
    if !may_create {
        return Err(Error::PermissionDenied(format!(
            "map {map:?} does not exist, and creating it (its table kv_{map}) is a schema \
             change: the first write to a new map needs the admin role on the database, or \
             the map declared in the statements file (maps = [\"{map}\"] under the \
             database's [databases.<name>])"
        )));
    }
    let sql = format!(
        "CREATE TABLE {} (key BLOB PRIMARY KEY, value BLOB NOT NULL, \
         version INTEGER NOT NULL DEFAULT 1) WITHOUT ROWID",
        table(map)
    );
    db.conn().execute(&sql, [])?;
    Ok(())
}

/// `SELECT value, version` of one key of `map`.
fn select_sql(map: &str) -> String {
    format!("SELECT value, version FROM {} WHERE key = ?1", table(map))
}

/// Upsert of one key of `map` with an explicit version.
fn upsert_sql(map: &str) -> String {
    format!(
        "INSERT INTO {} (key, value, version) VALUES (?1, ?2, ?3) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = excluded.version",
        table(map)
    )
}

/// The entry of `key`, read with `select` (see [`select_sql`]).
fn current(select: &mut rusqlite::CachedStatement<'_>, key: &[u8]) -> Result<Option<Entry>> {
    let entry = select
        .query_row([key], |row| {
            Ok(Entry {
                key: key.to_vec(),
                value: row.get(0)?,
                version: row.get(1)?,
            })
        })
        .optional()?;
    Ok(entry)
}

/// Sets `key` to `value` over `previous` (what it holds now) with `upsert` (see
/// [`upsert_sql`]); returns the new version.
fn upsert(
    upsert: &mut rusqlite::CachedStatement<'_>,
    key: &[u8],
    value: &[u8],
    previous: Option<&Entry>,
) -> Result<i64> {
    let version = previous.map_or(1, |p| p.version + 1);
    upsert.execute(rusqlite::params![key, value, version])?;
    Ok(version)
}

/// Applies `write`; the caller provides the transaction.
pub fn apply(db: &Sqlite, write: &KvWrite) -> Result<KvWritten> {
    if let KvWrite::SetMany { entries, .. } = write
        && entries.is_empty()
    {
        // Nothing to add: no reason to create the map.
        return Ok(KvWritten {
            applied: true,
            ..Default::default()
        });
    }
    match write {
        KvWrite::Set {
            map,
            key,
            value,
            if_absent,
            if_version,
            may_create,
        } => {
            if *if_version != 0 && !exists(db, map)? {
                // A version to match, and no map: not applied, as on an empty map.
                return Ok(KvWritten::default());
            }
            ensure(db, map, *may_create)?;
            let previous = current(&mut db.conn().prepare_cached(&select_sql(map))?, key)?;
            let holds = match (&previous, *if_absent, *if_version) {
                (Some(_), true, _) => false,
                (Some(p), false, v) if v != 0 => p.version == v,
                (None, false, v) if v != 0 => false,
                _ => true,
            };
            if !holds {
                let version = previous.as_ref().map_or(0, |p| p.version);
                return Ok(KvWritten {
                    applied: false,
                    previous,
                    version,
                    ..Default::default()
                });
            }
            let mut statement = db.conn().prepare_cached(&upsert_sql(map))?;
            let version = upsert(&mut statement, key, value, previous.as_ref())?;
            Ok(KvWritten {
                applied: true,
                previous,
                version,
                count: 1,
                results: Vec::new(),
            })
        }
        KvWrite::Delete { map, key } => {
            if !exists(db, map)? {
                return Ok(KvWritten::default());
            }
            let previous = current(&mut db.conn().prepare_cached(&select_sql(map))?, key)?;
            if previous.is_some() {
                let sql = format!("DELETE FROM {} WHERE key = ?1", table(map));
                db.conn().prepare_cached(&sql)?.execute([key])?;
            }
            Ok(KvWritten {
                applied: previous.is_some(),
                count: u64::from(previous.is_some()),
                previous,
                ..Default::default()
            })
        }
        KvWrite::SetMany {
            map,
            entries,
            return_previous: false,
            may_create,
        } => {
            ensure(db, map, *may_create)?;
            let sql = format!(
                "INSERT INTO {} (key, value) VALUES (?1, ?2) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = version + 1",
                table(map)
            );
            let mut stmt = db.conn().prepare_cached(&sql)?;
            for entry in entries {
                stmt.execute(rusqlite::params![entry.key, entry.value])?;
            }
            Ok(KvWritten {
                applied: true,
                count: entries.len() as u64,
                ..Default::default()
            })
        }
        KvWrite::SetMany {
            map,
            entries,
            return_previous: true,
            may_create,
        } => {
            ensure(db, map, *may_create)?;
            // Both statements once for the whole request, not once per entry.
            let mut select = db.conn().prepare_cached(&select_sql(map))?;
            let mut set = db.conn().prepare_cached(&upsert_sql(map))?;
            let mut results = Vec::with_capacity(entries.len());
            for entry in entries {
                let previous = current(&mut select, &entry.key)?;
                let version = upsert(&mut set, &entry.key, &entry.value, previous.as_ref())?;
                results.push((previous, version));
            }
            Ok(KvWritten {
                applied: true,
                count: entries.len() as u64,
                results,
                ..Default::default()
            })
        }
        KvWrite::DeleteMany { map, keys } => {
            if !exists(db, map)? {
                return Ok(KvWritten {
                    applied: true,
                    ..Default::default()
                });
            }
            let sql = format!("DELETE FROM {} WHERE key = ?1", table(map));
            let mut stmt = db.conn().prepare_cached(&sql)?;
            let mut count = 0;
            for key in keys {
                count += stmt.execute([key])? as u64;
            }
            Ok(KvWritten {
                applied: true,
                count,
                ..Default::default()
            })
        }
        KvWrite::Clear { map } => {
            if !exists(db, map)? {
                return Ok(KvWritten {
                    applied: true,
                    ..Default::default()
                });
            }
            let count =
                db.conn()
                    .execute(&format!("DELETE FROM {}", table(map)), [])? as u64;
            Ok(KvWritten {
                applied: true,
                count,
                ..Default::default()
            })
        }
    }
}

/// Rough size of a write, for the group commit's byte bound.
pub fn bytes(write: &KvWrite) -> usize {
    match write {
        KvWrite::Set { key, value, .. } => key.len() + value.len(),
        KvWrite::Delete { key, .. } => key.len(),
        KvWrite::SetMany { entries, .. } => {
            entries.iter().map(|e| e.key.len() + e.value.len()).sum()
        }
        KvWrite::DeleteMany { keys, .. } => keys.iter().map(Vec::len).sum(),
        KvWrite::Clear { .. } => 0,
    }
}
