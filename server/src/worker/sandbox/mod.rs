//! The SQL sandbox, enforced inside SQLite by its authorizer callback (not by reading SQL
//! text): every statement a client sends is checked, action by action, while it is
//! prepared — including the actions of triggers it would fire and of CTEs it holds.
//!
//! Always, unless `--unsafe-sql`: no ATTACH or DETACH (a request reaches only its own
//! database), no `load_extension()`, and only the PRAGMAs [`pragmas`] allows. By the
//! request's [`Access`]: `read` may not write by any route (INSERT … RETURNING in a Query,
//! a CTE, a trigger); `write` may change rows but not the schema; `admin` may do both.
//! With `--unsafe-sql`: ATTACH of the data directory's other databases, read-only
//! ([`attach`]), and PRAGMAs that set the request's own connection, which is restored when
//! the request ends (`worker::request_state`).
//!
//! Always, for every access and even with `--unsafe-sql`: no `fts3_tokenizer()`, whose
//! two-argument form takes a raw C pointer (SQLite trusts a bound parameter as the
//! application's own, so a client could pass any address and crash or take over the
//! server), and whose one-argument form hands out a code address (defeating ASLR). And TEMP
//! objects only inside an interactive transaction, which drops them at its end: made by a
//! single request they would live on in the connection, unseen by readers and by
//! `sqlite_schema`, and a TEMP trigger would fire on other tokens' writes.
//!
//! # Whose work an action is
//!
//! SQLite calls the authorizer for every statement prepared on the connection, not only the
//! client's: a virtual-table module prepares statements of its own on its shadow tables
//! (R-Tree's `INSERT INTO rt_node …` when a statement first connects the table, FTS's reads,
//! FTS3's `CREATE TABLE …_stat` and `SAVEPOINT fts3` while a statement steps), and so does the
//! `pragma_*` table-valued function. The callback does not say which statement an action
//! belongs to, so each rule that depends on the caller is placed where it is sound without
//! knowing:
//!
//! 1. **Reading or writing** is judged on the client's statement itself once it is prepared,
//!    not action by action ([`writes_refusal`]): a request with the read role runs only a
//!    statement for which `sqlite3_stmt_readonly()` is true — SQLite's word that the
//!    statement makes no direct change to the database file; a write, its RETURNING, a CTE
//!    feeding it and the triggers it fires are all direct changes of that statement — and
//!    never on the writer. A module's statements are statements of their own: what they
//!    would write (R-Tree's node cache, prepared while a read connects the table) is not
//!    charged to the reader, and they write only when the client's statement writes the
//!    virtual table, which is then not read-only. No client statement writes a shadow table
//!    directly, whatever its role: defensive mode (`worker::safety`) makes SQLite refuse it
//!    unless a module is connecting a table or a statement is running
//!    (`sqlite3ReadOnlyShadowTables`), which is the module's own work.
//! 2. **Schema changes and transaction control** are judged only on actions reported while
//!    the client's statement is being prepared ([`Asking::client`], raised by
//!    `Sqlite::prepare` around SQLite's prepare). A client's SQL reaches SQLite's parser
//!    only there, or when `sqlite3_step` prepares the same statement again after a schema
//!    change; every other statement prepared while a statement steps is SQLite's or a
//!    module's (FTS3's `_stat` table, its `SAVEPOINT fts3`). A statement prepared again is
//!    the same statement, of the same kind, and a statement prepared for one access runs
//!    again only for that access (the statement cache's key carries it), so it passed this
//!    check the first time. Modules also prepare while the client's statement is prepared
//!    (connecting a virtual table); those actions are judged as the client's, which errs
//!    only towards refusing: no module changes the schema or the transaction when it
//!    connects.
//! 3. Everything else — the functions nobody may call, TEMP objects, ATTACH, PRAGMAs,
//!    Litestream's tables, and maintenance (ANALYZE, REINDEX: the admin role) — holds for
//!    every statement, whoever prepared it: a module's own SQL needs none of it (FTS5's
//!    `PRAGMA data_version` and FTS3's `PRAGMA page_size` are plain reads), a `pragma_*`
//!    function passes the client's arguments to its PRAGMA, and `PRAGMA optimize` runs its
//!    ANALYZE as a statement of its own while it steps, which must be judged as the
//!    client's.
//!
//! Layout: this file ([`check`], the roles, functions and TEMP objects); [`pragmas`] (which
//! PRAGMAs may be read or set, and why not); [`attach`] (which files ATTACH may name).

pub mod attach;
pub mod pragmas;

use rusqlite::hooks::AuthAction;

use crate::auth::Access;

/// The prefix of the tables Litestream keeps inside a database it replicates.
pub const LITESTREAM_PREFIX: &str = "_litestream_";

/// Why `action` is refused in a database Litestream replicates, or `None`: no client
/// statement, admin included and even with `--unsafe-sql`, may read, write, index, alter,
/// drop or shadow Litestream's `_litestream_*` tables (its sequence and lock; changing them
/// breaks replication).
pub fn litestream_refusal(action: &AuthAction<'_>) -> Option<String> {
    use AuthAction::*;
    let table = match action {
        Read { table_name, .. }
        | Insert { table_name }
        | Update { table_name, .. }
        | Delete { table_name }
        | CreateTable { table_name }
        | DropTable { table_name }
        | AlterTable { table_name, .. }
        | Analyze { table_name }
        | CreateIndex { table_name, .. }
        | DropIndex { table_name, .. }
        | CreateTrigger { table_name, .. }
        | DropTrigger { table_name, .. }
        | CreateVtable { table_name, .. }
        | DropVtable { table_name, .. } => *table_name,
        _ => return None,
    };
    let lowered = table.get(..LITESTREAM_PREFIX.len())?;
    lowered.eq_ignore_ascii_case(LITESTREAM_PREFIX).then(|| {
        format!(
            "table {table:?} belongs to Litestream, which replicates this database \
             (--replica-url): no request may read or change it"
        )
    })
}

/// Functions no request may call, with why.
const DENIED_FUNCTIONS: &[(&str, &str)] = &[(
    "fts3_tokenizer",
    "fts3_tokenizer() is not allowed: it reads and writes raw memory addresses",
)];

/// Why calling the function `action` names is refused whatever the request, or `None` (also
/// for an action that is no function call). `load_extension()` is refused in the sandbox.
pub fn refused_function(action: &AuthAction<'_>, sandbox: bool) -> Option<String> {
    let AuthAction::Function { function_name } = action else {
        return None;
    };
    if let Some((_, why)) = DENIED_FUNCTIONS
        .iter()
        .find(|(name, _)| function_name.eq_ignore_ascii_case(name))
    {
        return Some((*why).into());
    }
    (sandbox && function_name.eq_ignore_ascii_case("load_extension"))
        .then(|| "load_extension() is not allowed: extensions cannot be loaded".into())
}

/// The sandbox's refusal of ATTACH and DETACH.
const ATTACH_REFUSED: &str = "ATTACH and DETACH are not allowed: a request reaches only its own \
                              database (the SQL sandbox; a trusted deployment may lift it with \
                              --unsafe-sql)";

/// Who asks for an action, and where: what [`check`] judges it by.
#[derive(Debug, Clone, Copy)]
pub struct Asking<'a> {
    /// The role of the request's token on this database.
    pub access: Access,
    /// The SQL sandbox is on (off only with `--unsafe-sql`).
    pub sandbox: bool,
    /// The request runs inside an interactive transaction.
    pub interactive: bool,
    /// The action is reported while the client's statement is being prepared, not while a
    /// statement steps (see "Whose work an action is" above).
    pub client: bool,
    /// What ATTACH may name (with `--unsafe-sql`).
    pub attach: attach::AttachRule<'a>,
}

/// Why `action` (on the schema `database`, `main` or `temp`) is refused to the request
/// `asking`, or `None` when it is allowed.
pub fn check(
    action: &AuthAction<'_>,
    database: Option<&str>,
    asking: &Asking<'_>,
) -> Option<String> {
    use AuthAction::*;
    if let Some(why) = refused_function(action, asking.sandbox) {
        return Some(why);
    }
    if is_temp_creation(action, database) && !asking.interactive {
        return Some(
            "TEMP tables, views, indexes and triggers are allowed only inside an interactive \
             transaction (Begin … Commit), which drops them when it ends: a request's \
             connection is shared with other requests. Use a CTE (WITH …), or a regular table"
                .into(),
        );
    }
    match action {
        Attach { .. } | Detach { .. } if asking.sandbox => return Some(ATTACH_REFUSED.into()),
        Attach { filename } => return attach::refusal(Some(filename), asking.attach),
        // SQLite passes the file (or the schema) of ATTACH (DETACH) only when the statement
        // names it with a string literal; rusqlite then reports the action as unknown. Such
        // a statement is refused like any ATTACH, or for its unnamed file.
        Unknown { code, .. }
            if *code == rusqlite::ffi::SQLITE_ATTACH || *code == rusqlite::ffi::SQLITE_DETACH =>
        {
            if asking.sandbox {
                return Some(ATTACH_REFUSED.into());
            }
            return attach::refusal(None, asking.attach);
        }
        Unknown { code, .. } => {
            return Some(format!(
                "SQLite asked to authorize an action the server cannot check (code {code}); \
                 it is refused"
            ));
        }
        Pragma {
            pragma_name,
            pragma_value,
        } => {
            let asked = pragmas::Asked {
                access: asking.access,
                sandbox: asking.sandbox,
                interactive: asking.interactive,
                schema: database,
            };
            return pragmas::allowed(pragma_name, *pragma_value, asked).err();
        }
        // Maintenance is judged whoever prepared it: `PRAGMA optimize` runs its ANALYZE as a
        // statement of its own while it steps, so judged only at the client's prepare, a
        // write token's optimize would run an admin's ANALYZE. No module runs either.
        Analyze { .. } | Reindex { .. } => return maintenance_refusal(asking.access),
        _ => {}
    }
    if !asking.client {
        return None;
    }
    let what = match action {
        CreateIndex { .. }
        | CreateTable { .. }
        | CreateTrigger { .. }
        | CreateView { .. }
        | CreateVtable { .. }
        | CreateTempIndex { .. }
        | CreateTempTable { .. }
        | CreateTempTrigger { .. }
        | CreateTempView { .. } => "a schema change (CREATE)",
        DropIndex { .. }
        | DropTable { .. }
        | DropTrigger { .. }
        | DropView { .. }
        | DropVtable { .. }
        | DropTempIndex { .. }
        | DropTempTable { .. }
        | DropTempTrigger { .. }
        | DropTempView { .. } => "a schema change (DROP)",
        AlterTable { .. } => "a schema change (ALTER TABLE)",
        _ => return None,
    };
    (asking.access < Access::Admin).then(|| {
        format!(
            "the token's role on this database is {}; {what} needs the admin role",
            asking.access
        )
    })
}

/// Why ANALYZE or REINDEX — the client's own, or one a statement runs while it steps
/// (`PRAGMA optimize`) — is refused to a request with `access`: they rebuild the planner's
/// statistics and the indexes, an admin's upkeep (see "Whose work an action is" (3) above).
pub fn maintenance_refusal(access: Access) -> Option<String> {
    (access < Access::Admin).then(|| {
        format!(
            "the token's role on this database is {access}; ANALYZE, REINDEX and PRAGMA \
             optimize (which runs ANALYZE) need the admin role (an admin may also use the \
             Admin.Optimize call)"
        )
    })
}

/// Why a prepared client statement is refused to a request with `access`: `read_only` is
/// `sqlite3_stmt_readonly()` of the statement, `on_writer` whether the connection is the
/// writer. See "Whose work an action is" (1) above.
pub fn writes_refusal(access: Access, read_only: bool, on_writer: bool) -> Option<String> {
    (access < Access::Write && (!read_only || on_writer)).then(|| {
        format!(
            "the token's role on this database is {access}; this statement writes (INSERT, \
             UPDATE, DELETE, REPLACE, or a write inside a CTE, RETURNING or trigger), which \
             needs the write role"
        )
    })
}

/// Whether `action` on the schema `database` makes a TEMP object: `CREATE TEMP …`, or
/// `CREATE … temp.name`, which SQLite reports as a plain CREATE in the `temp` schema.
pub fn is_temp_creation(action: &AuthAction<'_>, database: Option<&str>) -> bool {
    use AuthAction::*;
    match action {
        CreateTempIndex { .. }
        | CreateTempTable { .. }
        | CreateTempTrigger { .. }
        | CreateTempView { .. } => true,
        CreateIndex { .. }
        | CreateTable { .. }
        | CreateTrigger { .. }
        | CreateView { .. }
        | CreateVtable { .. } => database.is_some_and(|name| name.eq_ignore_ascii_case("temp")),
        _ => false,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn asking(access: Access, sandbox: bool, interactive: bool) -> Asking<'static> {
        Asking {
            access,
            sandbox,
            interactive,
            client: true,
            attach: attach::AttachRule {
                allowed: false,
                data_dir: None,
            },
        }
    }

    #[test]
    fn roles() {
        // Writes are judged on the prepared statement, not action by action.
        let insert = AuthAction::Insert { table_name: "t" };
        assert!(check(&insert, None, &asking(Access::Read, true, false)).is_none());
        assert!(writes_refusal(Access::Read, false, false).is_some());
        assert!(
            writes_refusal(Access::Read, true, true).is_some(),
            "on the writer"
        );
        assert!(writes_refusal(Access::Read, true, false).is_none());
        assert!(writes_refusal(Access::Write, false, true).is_none());
        let create = AuthAction::CreateTable { table_name: "t" };
        assert!(check(&create, None, &asking(Access::Write, true, false)).is_some());
        assert!(check(&create, None, &asking(Access::Admin, true, false)).is_none());
        // A module's own schema change while a statement steps (FTS3's %_stat table).
        let nested = Asking {
            client: false,
            ..asking(Access::Write, true, false)
        };
        assert!(check(&create, None, &nested).is_none());
        // But maintenance is judged whoever runs it: the ANALYZE `PRAGMA optimize` runs
        // while it steps, for one.
        let analyze = AuthAction::Analyze { table_name: "t" };
        let reindex = AuthAction::Reindex { index_name: "i" };
        for action in [&analyze, &reindex] {
            for client in [true, false] {
                for access in [Access::Read, Access::Write] {
                    let asked = Asking {
                        client,
                        ..asking(access, true, false)
                    };
                    let why = check(action, None, &asked).expect("refused");
                    assert!(why.contains("admin role"), "{why}");
                }
                let admin = Asking {
                    client,
                    ..asking(Access::Admin, true, false)
                };
                assert!(check(action, None, &admin).is_none());
            }
        }
        let attach = AuthAction::Attach {
            filename: "/etc/passwd",
        };
        assert!(check(&attach, None, &asking(Access::Admin, true, false)).is_some());
        let unsafe_sql = check(&attach, None, &asking(Access::Admin, false, false)).unwrap();
        assert!(unsafe_sql.contains("\"*\""), "{unsafe_sql}");
    }

    #[test]
    fn fts3_tokenizer_is_denied_to_everyone() {
        let call = AuthAction::Function {
            function_name: "FTS3_Tokenizer",
        };
        for sandbox in [true, false] {
            for client in [true, false] {
                let asked = Asking {
                    client,
                    ..asking(Access::Admin, sandbox, true)
                };
                assert!(check(&call, None, &asked).is_some());
            }
        }
        let harmless = AuthAction::Function {
            function_name: "hex",
        };
        assert!(check(&harmless, None, &asking(Access::Read, true, false)).is_none());
    }

    #[test]
    fn temp_objects_only_in_interactive_transactions() {
        let temp = AuthAction::CreateTempTrigger {
            trigger_name: "t",
            table_name: "x",
        };
        assert!(check(&temp, None, &asking(Access::Admin, false, false)).is_some());
        assert!(check(&temp, None, &asking(Access::Admin, true, true)).is_none());
        let defer = AuthAction::Pragma {
            pragma_name: "defer_foreign_keys",
            pragma_value: Some("ON"),
        };
        assert!(check(&defer, None, &asking(Access::Write, true, true)).is_none());
        assert!(check(&defer, None, &asking(Access::Read, true, true)).is_some());
        let outside = check(&defer, None, &asking(Access::Admin, true, false)).unwrap();
        assert!(
            outside.contains("only inside an interactive transaction"),
            "{outside}"
        );
        let qualified = AuthAction::CreateTable { table_name: "t" };
        let admin = asking(Access::Admin, true, false);
        assert!(check(&qualified, Some("temp"), &admin).is_some());
        assert!(check(&qualified, Some("main"), &admin).is_none());
        let virtual_table = AuthAction::CreateVtable {
            table_name: "v",
            module_name: "fts5",
        };
        assert!(check(&virtual_table, Some("temp"), &admin).is_some());
    }
}
