//! What a statement is to the shell: transaction control it runs itself (the server
//! refuses it in a statement), a PRAGMA it skips, or SQL for the server — and whether that
//! SQL may travel in a batch (it returns no rows).

use sqlited_client::TransactionMode;

/// The shell's reading of one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    Begin(TransactionMode),
    Commit,
    Rollback,
    Savepoint(String),
    Release(String),
    RollbackTo(String),
    /// `PRAGMA foreign_keys = …` (`on`: ON, 1, TRUE or YES): the server keeps foreign keys on.
    ForeignKeys {
        on: bool,
    },
    /// SQL for the server; `batchable` when it returns no rows.
    Sql {
        batchable: bool,
    },
}

/// The first few words of `sql` (upper-cased if `upper`; quoted names unquoted and kept
/// as they are), skipping comments.
fn words(sql: &str, most: usize, upper: bool) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if words.len() >= most {
            break;
        }
        match c {
            '-' if sql[i..].starts_with("--") => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if sql[i..].starts_with("/*") => {
                chars.next();
                let mut last = ' ';
                for (_, c) in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '"' | '`' | '[' | '\'' => {
                let close = if c == '[' { ']' } else { c };
                let mut word = String::new();
                for (_, c) in chars.by_ref() {
                    if c == close {
                        break;
                    }
                    word.push(c);
                }
                words.push(word);
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut word = c.to_string();
                while let Some(&(_, c)) = chars.peek() {
                    if !(c.is_alphanumeric() || c == '_' || c == '$') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                if upper {
                    word = word.to_uppercase();
                }
                words.push(word);
            }
            c if c.is_whitespace() => {}
            c => words.push(c.to_string()),
        }
    }
    words
}

/// Reads one complete statement.
pub fn classify(sql: &str) -> Statement {
    let w = words(sql, 6, true);
    let named = words(sql, 6, false);
    let word = |i: usize| w.get(i).map(String::as_str).unwrap_or("");
    // A name keeps its case: take it from the original words' positions.
    let name_at = |i: usize| named.get(i).cloned().unwrap_or_default();
    match word(0) {
        "BEGIN" => Statement::Begin(match word(1) {
            "IMMEDIATE" => TransactionMode::Immediate,
            "EXCLUSIVE" => TransactionMode::Exclusive,
            _ => TransactionMode::Deferred,
        }),
        "COMMIT" | "END" => Statement::Commit,
        "ROLLBACK" => {
            let to = if word(1) == "TRANSACTION" { 2 } else { 1 };
            if word(to) == "TO" {
                let at = if word(to + 1) == "SAVEPOINT" {
                    to + 2
                } else {
                    to + 1
                };
                Statement::RollbackTo(name_at(at))
            } else {
                Statement::Rollback
            }
        }
        "SAVEPOINT" => Statement::Savepoint(name_at(1)),
        "RELEASE" => Statement::Release(name_at(if word(1) == "SAVEPOINT" { 2 } else { 1 })),
        "PRAGMA" if word(1) == "FOREIGN_KEYS" && word(2) == "=" => Statement::ForeignKeys {
            on: matches!(word(3), "ON" | "1" | "TRUE" | "YES"),
        },
        first => {
            let returns_rows = matches!(first, "SELECT" | "WITH" | "VALUES" | "PRAGMA" | "EXPLAIN")
                || sql.to_ascii_uppercase().contains("RETURNING");
            Statement::Sql {
                batchable: !returns_rows,
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn reads_transaction_control() {
        assert_eq!(
            classify("BEGIN TRANSACTION;"),
            Statement::Begin(TransactionMode::Deferred)
        );
        assert_eq!(
            classify("begin immediate;"),
            Statement::Begin(TransactionMode::Immediate)
        );
        assert_eq!(classify("/* x */ END;"), Statement::Commit);
        assert_eq!(classify("commit transaction;"), Statement::Commit);
        assert_eq!(classify("ROLLBACK;"), Statement::Rollback);
        assert_eq!(
            classify("ROLLBACK TRANSACTION TO SAVEPOINT Sp1;"),
            Statement::RollbackTo("Sp1".into())
        );
        assert_eq!(
            classify("rollback to a;"),
            Statement::RollbackTo("a".into())
        );
        assert_eq!(
            classify("SAVEPOINT \"x y\";"),
            Statement::Savepoint("x y".into())
        );
        assert_eq!(
            classify("RELEASE SAVEPOINT s;"),
            Statement::Release("s".into())
        );
        assert_eq!(
            classify("PRAGMA foreign_keys=OFF;"),
            Statement::ForeignKeys { on: false }
        );
        assert_eq!(
            classify("pragma FOREIGN_KEYS = on"),
            Statement::ForeignKeys { on: true }
        );
        assert_eq!(
            classify("PRAGMA foreign_keys;"),
            Statement::Sql { batchable: false }
        );
        assert_eq!(
            classify("INSERT INTO t VALUES(1);"),
            Statement::Sql { batchable: true }
        );
        assert_eq!(
            classify("INSERT INTO t VALUES(1) RETURNING *;"),
            Statement::Sql { batchable: false }
        );
        assert_eq!(
            classify("-- c\nselect 1;"),
            Statement::Sql { batchable: false }
        );
    }
}
