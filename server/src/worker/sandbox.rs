//! The SQL sandbox, enforced inside SQLite by its authorizer callback (not by reading SQL
//! text): every statement a client sends is checked, action by action, while it is
//! prepared — including the actions of triggers it would fire and of CTEs it holds.
//!
//! Always, unless `--unsafe-sql`: no ATTACH or DETACH (a request reaches only its own
//! database), no `load_extension()`, and only the PRAGMAs of [`pragma_allowed`]. By the
//! request's [`Access`]: `read` may not write by any route (INSERT … RETURNING in a Query,
//! a CTE, a trigger); `write` may change rows but not the schema; `admin` may do both.
//!
//! Always, for every access and even with `--unsafe-sql`: no `fts3_tokenizer()`, whose
//! two-argument form takes a raw C pointer (SQLite trusts a bound parameter as the
//! application's own, so a client could pass any address and crash or take over the
//! server), and whose one-argument form hands out a code address (defeating ASLR). And TEMP
//! objects only inside an interactive transaction, which drops them at its end: made by a
//! single request they would live on in the connection, unseen by readers and by
//! `sqlite_schema`, and a TEMP trigger would fire on other tokens' writes.

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

/// Why `action` (on the schema `database`, `main` or `temp`) is refused to a request with
/// `access`, or `None` when it is allowed. `interactive`: the request runs inside an
/// interactive transaction.
pub fn check(
    action: &AuthAction<'_>,
    database: Option<&str>,
    access: Access,
    sandbox: bool,
    interactive: bool,
) -> Option<String> {
    use AuthAction::*;
    if let Function { function_name } = action
        && let Some((_, why)) = DENIED_FUNCTIONS
            .iter()
            .find(|(name, _)| function_name.eq_ignore_ascii_case(name))
    {
        return Some((*why).into());
    }
    if is_temp_creation(action, database) && !interactive {
        return Some(
            "TEMP tables, views, indexes and triggers are allowed only inside an interactive \
             transaction (Begin … Commit), which drops them when it ends: a request's \
             connection is shared with other requests. Use a CTE (WITH …), or a regular table"
                .into(),
        );
    }
    if sandbox {
        match action {
            Attach { .. } | Detach { .. } => {
                return Some(
                    "ATTACH and DETACH are not allowed: a request reaches only its own database \
                     (the SQL sandbox; a trusted deployment may lift it with --unsafe-sql)"
                        .into(),
                );
            }
            Function { function_name } if function_name.eq_ignore_ascii_case("load_extension") => {
                return Some("load_extension() is not allowed: extensions cannot be loaded".into());
            }
            Pragma {
                pragma_name,
                pragma_value: Some(_),
            } if interactive
                && access >= Access::Write
                && pragma_name.eq_ignore_ascii_case("defer_foreign_keys") =>
            {
                // SQLite turns it off again at the transaction's COMMIT or ROLLBACK, so inside
                // an interactive transaction it reaches no other request: a dump whose rows
                // reference rows that come later loads, checked at Commit.
            }
            Pragma {
                pragma_name,
                pragma_value,
            } => {
                return pragma_allowed(pragma_name, *pragma_value, access).err();
            }
            _ => {}
        }
    }
    let (needed, what) = match action {
        Insert { table_name } => (Access::Write, format!("INSERT into {table_name}")),
        Update { table_name, .. } => (Access::Write, format!("UPDATE of {table_name}")),
        Delete { table_name } => (Access::Write, format!("DELETE from {table_name}")),
        CreateIndex { .. }
        | CreateTable { .. }
        | CreateTrigger { .. }
        | CreateView { .. }
        | CreateVtable { .. }
        | CreateTempIndex { .. }
        | CreateTempTable { .. }
        | CreateTempTrigger { .. }
        | CreateTempView { .. } => (Access::Admin, "a schema change (CREATE)".into()),
        DropIndex { .. }
        | DropTable { .. }
        | DropTrigger { .. }
        | DropView { .. }
        | DropVtable { .. }
        | DropTempIndex { .. }
        | DropTempTable { .. }
        | DropTempTrigger { .. }
        | DropTempView { .. } => (Access::Admin, "a schema change (DROP)".into()),
        AlterTable { .. } => (Access::Admin, "a schema change (ALTER TABLE)".into()),
        Reindex { .. } | Analyze { .. } => (Access::Admin, "REINDEX or ANALYZE".into()),
        _ => return None,
    };
    (access < needed).then(|| {
        format!("the token's role on this database is {access}; {what} needs the {needed} role")
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
        CreateIndex { .. } | CreateTable { .. } | CreateTrigger { .. } | CreateView { .. } => {
            database.is_some_and(|name| name.eq_ignore_ascii_case("temp"))
        }
        _ => false,
    }
}

/// PRAGMAs that only read (with or without an argument naming what to read).
const READ_ONLY: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "integrity_check",
    "quick_check",
    "collation_list",
    "function_list",
    "module_list",
    "pragma_list",
    "compile_options",
    "data_version",
    "page_count",
    "freelist_count",
];

/// PRAGMAs that may be read (no value) but set by nobody: they change the connection every
/// request shares, or its safety.
const READ_NOT_SET: &[&str] = &[
    "foreign_keys",
    // Set only inside an interactive transaction ([`check`]).
    "defer_foreign_keys",
    "page_size",
    "schema_version",
    "encoding",
    "journal_mode",
    "synchronous",
    "auto_vacuum",
    "cache_size",
];

/// PRAGMAs that may be read by anyone and set by an admin: the schema's own version marks,
/// and the planner's upkeep.
const ADMIN_MAY_SET: &[&str] = &["user_version", "application_id", "optimize"];

/// Whether `PRAGMA name[=value]` is allowed to a request with `access`.
fn pragma_allowed(name: &str, value: Option<&str>, access: Access) -> Result<(), String> {
    let name = name.to_ascii_lowercase();
    let listed = |list: &[&str]| list.contains(&name.as_str());
    if listed(READ_ONLY) || (value.is_none() && (listed(READ_NOT_SET) || listed(ADMIN_MAY_SET))) {
        return Ok(());
    }
    if name == "defer_foreign_keys" {
        return Err(format!(
            "PRAGMA defer_foreign_keys may be set only inside an interactive transaction \
             (Begin … Commit), by a token with the write role (its role is {access}): SQLite \
             turns it off at that transaction's end, so it reaches no other request"
        ));
    }
    if listed(ADMIN_MAY_SET) {
        return if access >= Access::Admin {
            Ok(())
        } else {
            Err(format!(
                "PRAGMA {name} with a value needs the admin role (the token's role is {access})"
            ))
        };
    }
    let mut allowed: Vec<&str> = READ_ONLY.to_vec();
    allowed.extend(READ_NOT_SET.iter().chain(ADMIN_MAY_SET));
    Err(format!(
        "PRAGMA {name}{} is not allowed (the SQL sandbox; --unsafe-sql lifts it). Allowed: {} \
         (those that set something only read)",
        value.map_or(String::new(), |v| format!("={v}")),
        allowed.join(", ")
    ))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn pragmas() {
        assert!(pragma_allowed("table_info", Some("t"), Access::Read).is_ok());
        assert!(pragma_allowed("foreign_keys", None, Access::Read).is_ok());
        assert!(pragma_allowed("foreign_keys", Some("OFF"), Access::Admin).is_err());
        assert!(pragma_allowed("writable_schema", Some("1"), Access::Admin).is_err());
        assert!(pragma_allowed("user_version", Some("3"), Access::Write).is_err());
        assert!(pragma_allowed("user_version", Some("3"), Access::Admin).is_ok());
    }

    #[test]
    fn roles() {
        let insert = AuthAction::Insert { table_name: "t" };
        assert!(check(&insert, None, Access::Read, true, false).is_some());
        assert!(check(&insert, None, Access::Write, true, false).is_none());
        let create = AuthAction::CreateTable { table_name: "t" };
        assert!(check(&create, None, Access::Write, true, false).is_some());
        assert!(check(&create, None, Access::Admin, true, false).is_none());
        let attach = AuthAction::Attach {
            filename: "/etc/passwd",
        };
        assert!(check(&attach, None, Access::Admin, true, false).is_some());
        assert!(check(&attach, None, Access::Admin, false, false).is_none());
    }

    #[test]
    fn fts3_tokenizer_is_denied_to_everyone() {
        let call = AuthAction::Function {
            function_name: "FTS3_Tokenizer",
        };
        for sandbox in [true, false] {
            assert!(check(&call, None, Access::Admin, sandbox, true).is_some());
        }
        let harmless = AuthAction::Function {
            function_name: "hex",
        };
        assert!(check(&harmless, None, Access::Read, true, false).is_none());
    }

    #[test]
    fn temp_objects_only_in_interactive_transactions() {
        let temp = AuthAction::CreateTempTrigger {
            trigger_name: "t",
            table_name: "x",
        };
        assert!(check(&temp, None, Access::Admin, false, false).is_some());
        assert!(check(&temp, None, Access::Admin, true, true).is_none());
        let defer = AuthAction::Pragma {
            pragma_name: "defer_foreign_keys",
            pragma_value: Some("ON"),
        };
        assert!(check(&defer, None, Access::Write, true, true).is_none());
        assert!(check(&defer, None, Access::Read, true, true).is_some());
        let outside = check(&defer, None, Access::Admin, true, false).unwrap();
        assert!(
            outside.contains("only inside an interactive transaction"),
            "{outside}"
        );
        let qualified = AuthAction::CreateTable { table_name: "t" };
        assert!(check(&qualified, Some("temp"), Access::Admin, true, false).is_some());
        assert!(check(&qualified, Some("main"), Access::Admin, true, false).is_none());
    }
}
