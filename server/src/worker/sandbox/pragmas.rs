//! Which PRAGMAs a request may run, read or set, in the sandbox and with `--unsafe-sql`.
//!
//! Every connection is shared by the requests of many tokens, and every request runs inside a
//! transaction (the writer's group commit, or an interactive one). So a PRAGMA that sets
//! something is allowed only if its effect ends with the request: the schema's own version
//! marks (data in the file, set by an admin), `defer_foreign_keys` (SQLite turns it off when
//! the transaction ends), and — with `--unsafe-sql` only — the [`Rule::Connection`] settings,
//! which the connection restores when the request ends
//! ([`super::super::request_state`]). The others are refused in both modes, each with why:
//! they would outlive the request, could not take effect inside its transaction, or undo a
//! setting the server's safety or bounds rest on.

use crate::auth::Access;

/// What may be done with one PRAGMA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Only reads, with or without an argument naming what to read.
    Read,
    /// Read by anyone, set by an admin: the schema's version marks.
    AdminSets,
    /// Run, bare or with an argument, by an admin only, for this reason.
    AdminRuns(&'static str),
    /// Set only inside an interactive transaction, with the write role: SQLite turns it off at
    /// that transaction's end.
    InTransaction,
    /// A setting of the request's own connection: read by anyone; with `--unsafe-sql` set by
    /// anyone, and restored when the request ends.
    Connection,
    /// Read by anyone, set by nobody, for this reason.
    Fixed(&'static str),
    /// One of the server's own settings: read only with `--unsafe-sql` (it tells how the
    /// server is configured), set by nobody, for this reason.
    Server(&'static str),
    /// Neither read nor set (even its bare form acts), for this reason.
    Never(&'static str),
}

const SAFETY: &str = "it is one of the safety settings every connection gets (DEFENSIVE, \
                      TRUSTED_SCHEMA off, no legacy ALTER TABLE)";
const CHECKPOINTS: &str = "checkpoints are the server's: use the Admin.Checkpoint call";
const PROCESS_WIDE: &str = "it is a setting of the whole server process, not of one request";

/// Every PRAGMA the server knows a rule for; any other is refused in the sandbox, and with
/// `--unsafe-sql` may be read but not set.
const PRAGMAS: &[(&str, Rule)] = &[
    ("table_info", Rule::Read),
    ("table_xinfo", Rule::Read),
    ("table_list", Rule::Read),
    ("index_list", Rule::Read),
    ("index_info", Rule::Read),
    ("index_xinfo", Rule::Read),
    ("foreign_key_list", Rule::Read),
    ("foreign_key_check", Rule::Read),
    ("integrity_check", Rule::Read),
    ("quick_check", Rule::Read),
    ("collation_list", Rule::Read),
    ("function_list", Rule::Read),
    ("module_list", Rule::Read),
    ("pragma_list", Rule::Read),
    ("compile_options", Rule::Read),
    ("data_version", Rule::Read),
    ("page_count", Rule::Read),
    ("freelist_count", Rule::Read),
    ("user_version", Rule::AdminSets),
    ("application_id", Rule::AdminSets),
    (
        "optimize",
        Rule::AdminRuns(
            "it runs ANALYZE, the planner's upkeep, which needs the admin role (or the \
             Admin.Optimize call)",
        ),
    ),
    ("defer_foreign_keys", Rule::InTransaction),
    ("recursive_triggers", Rule::Connection),
    ("case_sensitive_like", Rule::Connection),
    ("automatic_index", Rule::Connection),
    ("reverse_unordered_selects", Rule::Connection),
    ("ignore_check_constraints", Rule::Connection),
    ("query_only", Rule::Connection),
    ("cell_size_check", Rule::Connection),
    ("secure_delete", Rule::Connection),
    ("analysis_limit", Rule::Connection),
    ("cache_size", Rule::Connection),
    ("cache_spill", Rule::Connection),
    (
        "foreign_keys",
        Rule::Fixed(
            "SQLite ignores it inside a transaction, and every request runs in one; inside an \
             interactive transaction, PRAGMA defer_foreign_keys = ON postpones the checks to \
             its Commit",
        ),
    ),
    (
        "journal_mode",
        Rule::Fixed(
            "the writer keeps the database in WAL mode, which its readers and replication \
             need (and SQLite cannot leave WAL mode inside a transaction)",
        ),
    ),
    (
        "synchronous",
        Rule::Fixed(
            "the writer's durability is the server's setting (--synchronous), and SQLite \
             cannot change it inside a transaction",
        ),
    ),
    (
        "page_size",
        Rule::Fixed(
            "a database in WAL mode keeps its page size; only a rebuild outside WAL mode \
             could change it",
        ),
    ),
    (
        "auto_vacuum",
        Rule::Fixed(
            "it takes effect only when VACUUM rebuilds the database, which runs outside any \
             transaction: use the Admin.Vacuum call",
        ),
    ),
    (
        "encoding",
        Rule::Fixed("it is fixed when the database is created"),
    ),
    (
        "schema_version",
        Rule::Fixed("writing it would corrupt the database"),
    ),
    (
        "busy_timeout",
        Rule::Server("how long a request waits for a lock is the server's (--busy-timeout-ms)"),
    ),
    (
        "temp_store",
        Rule::Server(
            "temporary tables and sorts stay in memory, within the server's memory limit, \
             so that no request can fill the disk",
        ),
    ),
    (
        "locking_mode",
        Rule::Server("an exclusive lock would shut the database's other connections out"),
    ),
    ("wal_autocheckpoint", Rule::Server(CHECKPOINTS)),
    ("journal_size_limit", Rule::Server(CHECKPOINTS)),
    (
        "mmap_size",
        Rule::Server("memory-mapped reads would escape the server's memory limit"),
    ),
    (
        "threads",
        Rule::Server("a request runs on its worker's thread alone"),
    ),
    (
        "max_page_count",
        Rule::Server("the database's size is not the request's to bound"),
    ),
    ("trusted_schema", Rule::Server(SAFETY)),
    ("writable_schema", Rule::Server(SAFETY)),
    ("legacy_alter_table", Rule::Server(SAFETY)),
    ("soft_heap_limit", Rule::Server(PROCESS_WIDE)),
    ("hard_heap_limit", Rule::Server(PROCESS_WIDE)),
    ("temp_store_directory", Rule::Server(PROCESS_WIDE)),
    ("data_store_directory", Rule::Server(PROCESS_WIDE)),
    ("wal_checkpoint", Rule::Never(CHECKPOINTS)),
    (
        "incremental_vacuum",
        Rule::Never("VACUUM is the server's: use the Admin.Vacuum call"),
    ),
];

fn rule(name: &str) -> Option<Rule> {
    PRAGMAS
        .iter()
        .find(|(known, _)| name.eq_ignore_ascii_case(known))
        .map(|(_, rule)| *rule)
}

/// The PRAGMAs that with `--unsafe-sql` a request may set for itself, restored when it
/// ends.
pub fn connection_settings() -> impl Iterator<Item = &'static str> {
    PRAGMAS
        .iter()
        .filter(|(_, rule)| *rule == Rule::Connection)
        .map(|(name, _)| *name)
}

/// Whether `PRAGMA name = value` sets one of the [`connection_settings`], which the
/// connection must restore when the request ends: the name as the list spells it.
pub fn sets_connection(name: &str, value: Option<&str>) -> Option<&'static str> {
    value?;
    PRAGMAS
        .iter()
        .find(|(known, rule)| *rule == Rule::Connection && name.eq_ignore_ascii_case(known))
        .map(|(name, _)| *name)
}

/// What a PRAGMA is asked in: the request's role, the mode, and where it runs.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub access: Access,
    /// The SQL sandbox is on (off only with `--unsafe-sql`).
    pub sandbox: bool,
    /// The request runs inside an interactive transaction.
    pub interactive: bool,
    /// The schema the PRAGMA names (`main` when it names none).
    pub schema: Option<&'a str>,
}

/// Whether `PRAGMA name[=value]` is allowed; why not if it is not.
pub fn allowed(name: &str, value: Option<&str>, asked: Asked<'_>) -> Result<(), String> {
    let shown = || {
        format!(
            "PRAGMA {name}{}",
            value.map_or(String::new(), |v| format!("={v}"))
        )
    };
    let Some(rule) = rule(name) else {
        return match (asked.sandbox, value) {
            // Unknown to the server, and only read: with --unsafe-sql that is the client's
            // business.
            (false, None) => Ok(()),
            (false, Some(_)) => Err(format!(
                "{} is not allowed, even with --unsafe-sql: a request may set only the \
                 settings its connection restores when it ends ({})",
                shown(),
                connection_settings().collect::<Vec<_>>().join(", ")
            )),
            (true, None) => Err(format!(
                "{} is not allowed (the SQL sandbox; --unsafe-sql lifts it). Allowed: {}",
                shown(),
                sandbox_list()
            )),
            (true, Some(_)) => Err(format!(
                "{} is not allowed (the SQL sandbox). Allowed: {}",
                shown(),
                sandbox_list()
            )),
        };
    };
    match (rule, value) {
        (Rule::Read, _) => Ok(()),
        (Rule::AdminRuns(_), _) if asked.access >= Access::Admin => Ok(()),
        (Rule::AdminRuns(why), _) => Err(format!(
            "{} is not allowed to a token whose role on this database is {}: {why}",
            shown(),
            asked.access
        )),
        (Rule::Never(why), _) => Err(format!("{} is not allowed: {why}", shown())),
        (Rule::Server(_), None) if asked.sandbox => Err(format!(
            "{} is not allowed: it reads the server's configuration (the SQL sandbox; \
             --unsafe-sql lifts it)",
            shown()
        )),
        (_, None) => Ok(()),
        (Rule::AdminSets, Some(_)) if asked.access >= Access::Admin => Ok(()),
        (Rule::AdminSets, Some(_)) => Err(format!(
            "{} needs the admin role (the token's role is {})",
            shown(),
            asked.access
        )),
        (Rule::InTransaction, Some(_)) if asked.interactive && asked.access >= Access::Write => {
            Ok(())
        }
        (Rule::InTransaction, Some(_)) => Err(format!(
            "PRAGMA {name} may be set only inside an interactive transaction (Begin … \
             Commit), by a token with the write role (its role is {}): SQLite turns it off at \
             that transaction's end, so it reaches no other request",
            asked.access
        )),
        (Rule::Connection, Some(_)) if asked.sandbox => Err(format!(
            "{} is not allowed: it would change the connection other requests share (the SQL \
             sandbox; with --unsafe-sql a request may set it for itself)",
            shown()
        )),
        (Rule::Connection, Some(_))
            if asked
                .schema
                .is_some_and(|schema| !schema.eq_ignore_ascii_case("main")) =>
        {
            Err(format!(
                "{} may set only the main schema's setting (the one restored when the request \
                 ends)",
                shown()
            ))
        }
        (Rule::Connection, Some(_)) => Ok(()),
        (Rule::Fixed(why) | Rule::Server(why), Some(_)) => Err(format!(
            "{} is not allowed{}: {why}",
            shown(),
            if asked.sandbox {
                ""
            } else {
                ", even with --unsafe-sql"
            }
        )),
    }
}

/// What the sandbox allows, for its refusals.
fn sandbox_list() -> String {
    let mut reads = Vec::new();
    let mut sets = Vec::new();
    let mut runs = Vec::new();
    for (name, rule) in PRAGMAS {
        match rule {
            Rule::Read => reads.push(*name),
            Rule::AdminSets => {
                reads.push(*name);
                sets.push(*name);
            }
            Rule::AdminRuns(_) => runs.push(*name),
            Rule::Never(_) | Rule::Server(_) => {}
            _ => reads.push(*name),
        }
    }
    format!(
        "{} (those that set something only read; an admin may set {} and run {}, and \
         defer_foreign_keys is set inside an interactive transaction)",
        reads.join(", "),
        sets.join(", "),
        runs.join(", ")
    )
}

#[cfg(test)]
mod test {
    use super::*;

    fn asked(access: Access, sandbox: bool) -> Asked<'static> {
        Asked {
            access,
            sandbox,
            interactive: false,
            schema: None,
        }
    }

    #[test]
    fn in_the_sandbox() {
        let read = asked(Access::Read, true);
        assert!(allowed("table_info", Some("t"), read).is_ok());
        assert!(allowed("foreign_keys", None, read).is_ok());
        assert!(allowed("foreign_keys", Some("OFF"), asked(Access::Admin, true)).is_err());
        assert!(allowed("writable_schema", Some("1"), asked(Access::Admin, true)).is_err());
        assert!(allowed("user_version", Some("3"), asked(Access::Write, true)).is_err());
        assert!(allowed("user_version", Some("3"), asked(Access::Admin, true)).is_ok());
        for value in [None, Some("0x10002")] {
            for access in [Access::Read, Access::Write] {
                let why = allowed("optimize", value, asked(access, true)).unwrap_err();
                assert!(why.contains("admin role"), "{why}");
            }
            assert!(allowed("optimize", value, asked(Access::Admin, true)).is_ok());
            assert!(allowed("optimize", value, asked(Access::Write, false)).is_err());
        }
        assert!(allowed("database_list", None, read).is_err());
        assert!(allowed("recursive_triggers", Some("1"), asked(Access::Admin, true)).is_err());
        assert!(allowed("wal_checkpoint", None, asked(Access::Admin, true)).is_err());
        assert!(
            allowed("hard_heap_limit", None, read).is_err(),
            "the server's"
        );
        assert!(allowed("recursive_triggers", None, read).is_ok());
    }

    #[test]
    fn with_unsafe_sql() {
        let read = asked(Access::Read, false);
        // Reads of anything; sets of the connection's own settings only.
        assert!(allowed("database_list", None, read).is_ok());
        assert!(allowed("hard_heap_limit", None, read).is_ok());
        assert!(allowed("recursive_triggers", Some("1"), read).is_ok());
        assert!(allowed("cache_size", Some("100"), read).is_ok());
        let other_schema = Asked {
            schema: Some("temp"),
            ..read
        };
        assert!(allowed("cache_size", Some("100"), other_schema).is_err());
        for (name, value) in [
            ("journal_mode", "DELETE"),
            ("synchronous", "OFF"),
            ("foreign_keys", "OFF"),
            ("trusted_schema", "1"),
            ("soft_heap_limit", "0"),
            ("temp_store", "FILE"),
            ("busy_timeout", "99999999"),
            ("no_such_pragma", "1"),
        ] {
            let refused = allowed(name, Some(value), asked(Access::Admin, false)).unwrap_err();
            assert!(refused.contains("even with --unsafe-sql"), "{refused}");
        }
        assert!(allowed("wal_checkpoint", None, asked(Access::Admin, false)).is_err());
        assert_eq!(
            sets_connection("Recursive_Triggers", Some("1")),
            Some("recursive_triggers")
        );
        assert_eq!(sets_connection("recursive_triggers", None), None);
        assert_eq!(sets_connection("user_version", Some("1")), None);
    }
}
