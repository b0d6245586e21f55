//! `.import FILE TABLE`: CSV (RFC 4180) into a table, in one transaction. A new table is
//! created from the header row, its columns TEXT, as sqlite3 does; into an existing table
//! every line is data (skip a header with `--skip 1`).

use std::io::Write;

use sqlited_client::{Params, Value};

use crate::literal::identifier;
use crate::shell::Shell;

/// Rows sent per batch.
const CHUNK: usize = 1000;

/// The records of a CSV text: fields split at commas, `"…"` quoting with `""` for a quote,
/// line breaks inside quotes kept, `\r\n` or `\n` ending a record. Each comes with the
/// line it starts on.
pub fn records(text: &str) -> impl Iterator<Item = (usize, Vec<String>)> + '_ {
    let mut chars = text.chars().peekable();
    let mut line = 1;
    std::iter::from_fn(move || {
        chars.peek()?;
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        loop {
            match chars.next() {
                None => {
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                Some('"') if quoted => {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        field.push('"');
                    } else {
                        quoted = false;
                    }
                }
                Some('"') if field.is_empty() => quoted = true,
                Some(c) if quoted => {
                    if c == '\n' {
                        line += 1;
                    }
                    field.push(c);
                }
                Some(',') => fields.push(std::mem::take(&mut field)),
                Some('\r') if chars.peek() == Some(&'\n') => {}
                Some('\n') => {
                    line += 1;
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                Some(c) => field.push(c),
            }
        }
        Some((start, fields))
    })
}

/// Inside the shell's transaction, an import runs in a savepoint of its own.
const IMPORT_SAVEPOINT: &str = "SAVEPOINT sqlited_cli_import";
const IMPORT_RELEASE: &str = "RELEASE sqlited_cli_import";
const IMPORT_UNDO: &str = "ROLLBACK TO sqlited_cli_import";

impl Shell {
    /// `.import [--csv] [--skip N] FILE TABLE`.
    pub fn import(&mut self, args: &[String]) {
        let mut skip = 0usize;
        let mut names = Vec::new();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--csv" => {}
                "--skip" => match args.next().and_then(|n| n.parse().ok()) {
                    Some(n) => skip = n,
                    None => return self.usage("usage: .import [--csv] [--skip N] FILE TABLE"),
                },
                other if other.starts_with("--") => {
                    return self.usage(&format!(
                        "unknown option {other}: .import reads CSV only (--csv, --skip N)"
                    ));
                }
                other => names.push(other.to_string()),
            }
        }
        let [file, table] = names.as_slice() else {
            return self.usage("usage: .import [--csv] [--skip N] FILE TABLE");
        };
        let text = match std::fs::read(file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) => return self.usage(&format!("cannot read {file}: {err}")),
        };
        let db = match self.target() {
            Ok(db) => db,
            Err(failure) => return self.fail(failure),
        };
        let exists = self.rows(
            "SELECT 1 FROM sqlite_schema WHERE type IN ('table', 'view') AND name = ? \
             COLLATE NOCASE",
            vec![Value::Text(table.clone())],
        );
        let Some(exists) = exists else { return };
        let mut records = records(&text).skip(skip).peekable();
        let name = identifier(table);
        let mut create = None;
        let width = if exists.is_empty() {
            let Some((_, header)) = records.next() else {
                return self.usage(&format!(
                    "{file} is empty: no header to create {table} from"
                ));
            };
            let columns: Vec<String> = header
                .iter()
                .map(|c| format!("\"{}\" TEXT", c.replace('"', "\"\"")))
                .collect();
            create = Some(format!("CREATE TABLE {name}({})", columns.join(", ")));
            header.len()
        } else {
            let columns = self.runtime.block_on(async {
                db.query(&format!("SELECT * FROM {name} LIMIT 0"), ())
                    .await
                    .map(|rows| rows.columns().len())
            });
            match columns {
                Ok(n) => n,
                Err(err) => return self.report(&err),
            }
        };
        let insert = format!("INSERT INTO {name} VALUES({})", vec!["?"; width].join(","));
        let in_shell_transaction = self.tx.is_some();
        let script = self.script;
        let result = self.runtime.block_on(async {
            // Its own transaction, or a savepoint inside the shell's: all or nothing.
            let tx = if in_shell_transaction {
                db.execute(IMPORT_SAVEPOINT, ()).await?;
                None
            } else {
                Some(db.begin().await?)
            };
            let target = tx.as_deref().unwrap_or(&db);
            let loaded = async {
                if let Some(create) = &create {
                    target.execute(create, ()).await?;
                }
                let mut loaded = 0usize;
                let mut chunk: Vec<Params> = Vec::with_capacity(CHUNK);
                loop {
                    let next = records.next();
                    let done = next.is_none();
                    if let Some((line, mut fields)) = next {
                        if fields.len() != width {
                            eprintln!(
                                "{file}:{line}: expected {width} columns but found {} - {}",
                                fields.len(),
                                if fields.len() < width {
                                    "filling the rest with NULL"
                                } else {
                                    "extras ignored"
                                }
                            );
                        }
                        let mut values: Vec<Value> = fields.drain(..).map(Value::Text).collect();
                        values.resize(width, Value::Null);
                        chunk.push(values.into());
                    }
                    if chunk.len() >= CHUNK || (done && !chunk.is_empty()) {
                        let n = chunk.len();
                        target.execute_many(&insert, chunk.drain(..)).await?;
                        loaded += n;
                        if !script && loaded % 100_000 < CHUNK {
                            eprint!("\rloaded {loaded} rows…");
                        }
                    }
                    if done {
                        break;
                    }
                }
                Ok::<(), sqlited_client::Error>(())
            }
            .await;
            match (tx, loaded) {
                (Some(tx), Ok(())) => tx.commit().await,
                (None, Ok(())) => db.execute(IMPORT_RELEASE, ()).await.map(drop),
                (_, Err(err)) => {
                    if in_shell_transaction {
                        let _ = db.execute(IMPORT_UNDO, ()).await;
                        let _ = db.execute(IMPORT_RELEASE, ()).await;
                    }
                    Err(err)
                }
            }
        });
        match result {
            Ok(()) => self.schema_changed |= create.is_some(),
            Err(err) => {
                let _ = writeln!(std::io::stderr(), "nothing was imported");
                // In a script, as any failed statement: its transaction is all or nothing.
                self.failed_statement(&err, None);
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::records;

    #[test]
    fn reads_rfc_4180() {
        let text = "a,b\r\n\"x, \"\"y\"\"\",\"line\nbreak\"\n,last";
        let all: Vec<(usize, Vec<String>)> = records(text).collect();
        assert_eq!(all[0], (1, vec!["a".to_string(), "b".to_string()]));
        assert_eq!(
            all[1],
            (2, vec!["x, \"y\"".to_string(), "line\nbreak".to_string()])
        );
        assert_eq!(all[2], (4, vec![String::new(), "last".to_string()]));
        assert_eq!(all.len(), 3);
    }
}
