//! Tab completion: dot commands at the start of a line, else SQL keywords and the names of
//! the database's tables and columns, fetched from the server (again after a statement
//! that may change the schema).

use std::sync::{Arc, Mutex};

use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use sqlited_client::Value;

use crate::keywords::KEYWORDS;
use crate::shell::Shell;

/// Table and column names, shared by the shell (which reloads them) and the line editor.
pub type Names = Arc<Mutex<Vec<String>>>;

const DOT_COMMANDS: &[&str] = &[
    ".backup",
    ".bail",
    ".changes",
    ".databases",
    ".dump",
    ".echo",
    ".exit",
    ".headers",
    ".help",
    ".import",
    ".indexes",
    ".mode",
    ".nullvalue",
    ".once",
    ".open",
    ".output",
    ".pager",
    ".print",
    ".quit",
    ".read",
    ".schema",
    ".separator",
    ".tables",
    ".timeout",
    ".timer",
];

/// Fetches the names of the open database's tables, views and their columns.
pub fn reload(shell: &mut Shell, names: &Names) {
    if shell.db.is_none() {
        return;
    }
    let Ok(db) = shell.target() else { return };
    let found = shell.runtime.block_on(db.query_all(
        "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') \
         UNION SELECT p.name FROM sqlite_schema s, pragma_table_info(s.name) p \
         WHERE s.type IN ('table', 'view')",
        (),
    ));
    if let Ok(rows) = found {
        let mut list: Vec<String> = rows
            .into_iter()
            .filter_map(|r| match r.into_values().pop() {
                Some(Value::Text(name)) => Some(name),
                _ => None,
            })
            .collect();
        list.sort();
        *names.lock().unwrap_or_else(|p| p.into_inner()) = list;
    }
}

/// The line editor's helper: completion only.
pub struct Helper {
    names: Names,
}

impl Helper {
    pub fn new(names: Names) -> Self {
        Self { names }
    }
}

impl Completer for Helper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .map_or(0, |i| i + 1);
        let word = &before[start..];
        if start == 0 && word.starts_with('.') && !line.trim_start().contains(' ') {
            let found = DOT_COMMANDS
                .iter()
                .filter(|c| c.starts_with(word))
                .map(|c| c.to_string())
                .collect();
            return Ok((start, found));
        }
        // After a dot (`t.col`), complete the part after it: a name, never a keyword.
        let (start, word, qualified) = match word.rfind('.') {
            Some(dot) => (start + dot + 1, &word[dot + 1..], true),
            None => (start, word, false),
        };
        if word.is_empty() {
            return Ok((start, Vec::new()));
        }
        let lower = word.chars().all(|c| !c.is_uppercase());
        let mut found: Vec<String> = self
            .names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|n| n.to_lowercase().starts_with(&word.to_lowercase()))
            .cloned()
            .collect();
        found.extend(
            KEYWORDS
                .iter()
                .filter(|k| !qualified && k.starts_with(&word.to_uppercase()))
                .map(|k| {
                    if lower {
                        k.to_lowercase()
                    } else {
                        k.to_string()
                    }
                }),
        );
        found.dedup();
        Ok((start, found))
    }
}

impl Hinter for Helper {
    type Hint = String;
}

impl Highlighter for Helper {}

impl Validator for Helper {}

impl rustyline::Helper for Helper {}

#[cfg(test)]
mod test {
    use super::*;

    /// What the completer offers for `line` with the cursor at its end, against a schema of
    /// a table `widgets(id, width, colour)` and a view `wide`.
    fn complete(line: &str) -> (usize, Vec<String>) {
        let names: Names = Arc::new(Mutex::new(
            ["colour", "id", "wide", "widgets", "width"]
                .map(String::from)
                .to_vec(),
        ));
        let history = rustyline::history::MemHistory::new();
        let context = rustyline::Context::new(&history);
        Helper::new(names)
            .complete(line, line.len(), &context)
            .unwrap()
    }

    #[test]
    fn dot_commands_at_the_start_of_a_line() {
        assert_eq!(complete(".ta"), (0, vec![".tables".to_string()]));
        assert_eq!(
            complete(".ti"),
            (0, vec![".timeout".to_string(), ".timer".to_string()])
        );
        assert_eq!(complete(".pa"), (0, vec![".pager".to_string()]));
        // Not after the command's name: its argument is no dot command.
        assert!(!complete(".mode .ta").1.contains(&".tables".to_string()));
    }

    #[test]
    fn keywords_in_the_case_typed() {
        assert_eq!(complete("SEL"), (0, vec!["SELECT".to_string()]));
        assert_eq!(complete("sel"), (0, vec!["select".to_string()]));
        let (start, found) = complete("SELECT 1 WHE");
        assert_eq!(
            (start, found),
            (9, ["WHEN", "WHERE"].map(String::from).to_vec())
        );
        assert!(complete("").1.is_empty());
    }

    #[test]
    fn tables_and_columns_from_the_schema() {
        assert_eq!(
            complete("SELECT * FROM wid"),
            (14, ["wide", "widgets", "width"].map(String::from).to_vec())
        );
        // Names match whatever the case typed, and keep their own.
        assert_eq!(
            complete("select * from WIDG").1,
            vec!["widgets".to_string()]
        );
        // After `table.`, the part after the dot.
        assert_eq!(
            complete("SELECT widgets.col"),
            (15, vec!["colour".to_string()])
        );
        // Names and keywords together: the view `wide`, the columns, and WITH… for `wi`.
        let (_, found) = complete("SELECT wi");
        assert!(
            found.starts_with(&["wide", "widgets", "width"].map(String::from)),
            "{found:?}"
        );
        assert!(found.contains(&"with".to_string()), "{found:?}");
    }
}
