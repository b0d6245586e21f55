//! The differences between the server and SQLite that are deliberate, each with its reason
//! (the README's "Where answers differ from SQLite's" lists the same). Anything else the
//! runner finds is a bug.
//!
//! Two more are definitions rather than refusals, applied by the reference itself
//! ([`super::engines::Reference::run`]): `rows_affected` is what *this* statement changed (0
//! for a CREATE or a SELECT, where `sqlite3_changes()` repeats the last INSERT's count), and
//! `last_insert_rowid` is 0 after a read-only statement (it ran on a reader connection, which
//! never inserts).

use tonic::Code;

use super::engines::MAX_MESSAGE_BYTES;
use super::outcome::Outcome;

/// A statement the server refuses before it runs, told by its SQL text. The runner sends it
/// to the server only: a refusal with `status` is the documented answer; anything else the
/// server answers is compared with SQLite's as usual.
pub struct Refused {
    pub what: &'static str,
    pub why: &'static str,
    pub status: Code,
    pub matches: fn(&str) -> bool,
}

/// A result SQLite gives that the server cannot send, told by SQLite's answer: the server
/// must fail with `status` instead.
pub struct Unsendable {
    pub what: &'static str,
    pub why: &'static str,
    pub status: Code,
    pub matches: fn(&Outcome) -> bool,
}

/// The SQL's first words, upper-cased, comments and blanks skipped.
fn words(sql: &str, n: usize) -> Vec<String> {
    sql.lines()
        .map(|line| line.split("--").next().unwrap_or_default())
        .flat_map(str::split_whitespace)
        .take(n)
        .map(|word| word.trim_end_matches(';').to_ascii_uppercase())
        .collect()
}

pub const REFUSED: &[Refused] = &[
    Refused {
        what: "transaction control (BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT, RELEASE)",
        why: "every request is its own transaction; Begin/Commit and ExecuteBatch group statements",
        status: Code::InvalidArgument,
        matches: |sql| {
            words(sql, 1).first().is_some_and(|w| {
                ["BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"].contains(&w.as_str())
            })
        },
    },
    Refused {
        what: "VACUUM",
        why: "SQLite runs it only outside a transaction, and every request runs in one; Admin.Vacuum \
              rebuilds the database, Admin.Backup copies it",
        status: Code::InvalidArgument,
        matches: |sql| words(sql, 1).first().is_some_and(|w| w == "VACUUM"),
    },
    Refused {
        what: "ATTACH and DETACH",
        why: "a request reaches only its own database (the SQL sandbox)",
        status: Code::PermissionDenied,
        matches: |sql| words(sql, 1).first().is_some_and(|w| w == "ATTACH" || w == "DETACH"),
    },
    Refused {
        what: "PRAGMAs outside the sandbox's list, and setting any but user_version, application_id, optimize",
        why: "a PRAGMA changes the connection every request shares, or its safety",
        status: Code::PermissionDenied,
        matches: |sql| words(sql, 1).first().is_some_and(|w| w == "PRAGMA"),
    },
    Refused {
        what: "TEMP tables, views, indexes and triggers outside an interactive transaction",
        why: "they would live on in a connection other requests share, unseen by readers",
        status: Code::PermissionDenied,
        matches: |sql| {
            let w = words(sql, 3);
            w.first().is_some_and(|w| w == "CREATE")
                && (w.iter().any(|w| w == "TEMP" || w == "TEMPORARY")
                    || sql.to_ascii_lowercase().contains("temp."))
        },
    },
    Refused {
        what: "fts3_tokenizer() and load_extension()",
        why: "they take raw memory addresses or load native code",
        status: Code::PermissionDenied,
        matches: |sql| {
            let sql = sql.to_ascii_lowercase();
            sql.contains("fts3_tokenizer") || sql.contains("load_extension")
        },
    },
];

pub const UNSENDABLE: &[Unsendable] = &[
    Unsendable {
        what: "a result row larger than --max-message-bytes",
        why: "a row travels in one gRPC message; the server says RESOURCE_EXHAUSTED before \
              copying it (a single value that large is SQLITE_TOOBIG on both engines)",
        status: Code::ResourceExhausted,
        matches: |outcome| outcome.widest_row() > MAX_MESSAGE_BYTES,
    },
    Unsendable {
        what: "TEXT that is not valid UTF-8 in a result",
        why: "the protocol's text is UTF-8; the server asks for CAST(… AS BLOB) instead",
        status: Code::InvalidArgument,
        matches: |outcome| {
            outcome
                .rows
                .iter()
                .flatten()
                .any(|cell| matches!(cell, super::outcome::Cell::BadText(_)))
        },
    },
];
