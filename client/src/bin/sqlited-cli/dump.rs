//! `.schema` and `.dump`: the schema in an order that replays (tables, then indexes, views
//! and triggers, each in creation order), and rows as `INSERT` statements whose literals
//! read back as the same values. The output loads into sqlite3 unchanged.

use std::io::Write;

use sqlited_client::Value;

use crate::dot::{like_filter, not_litestream};
use crate::literal::{dump_literal, identifier, text_literal};
use crate::shell::{Failure, Shell};

/// Tables first, so every index, view and trigger finds what it refers to.
const SCHEMA_ORDER: &str = "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 \
                            WHEN 'view' THEN 2 ELSE 3 END, rowid";

impl Shell {
    /// `.schema [PATTERN…]`.
    pub fn schema(&mut self, patterns: &[String]) {
        let (filter, params) = like_filter("tbl_name", patterns);
        let sql = format!(
            "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' \
             AND {} {filter} {SCHEMA_ORDER}",
            not_litestream("tbl_name")
        );
        for row in self.rows(&sql, params).unwrap_or_default() {
            if let Some(Value::Text(sql)) = row.first() {
                let _ = writeln!(self.out, "{sql};");
            }
        }
    }

    /// `.dump [TABLE…]`.
    pub fn dump(&mut self, patterns: &[String]) {
        let (filter, params) = like_filter("tbl_name", patterns);
        let sql = format!(
            "SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL \
             AND name NOT LIKE 'sqlite_%' AND {} {filter} {SCHEMA_ORDER}",
            not_litestream("tbl_name")
        );
        let Some(objects) = self.rows(&sql, params) else {
            return;
        };
        let _ = writeln!(self.out, "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;");
        let text = |v: &Value| match v {
            Value::Text(t) => t.clone(),
            _ => String::new(),
        };
        let mut tables_done = false;
        for object in &objects {
            let (kind, name, sql) = (text(&object[0]), text(&object[1]), text(&object[2]));
            if kind != "table" && !tables_done {
                tables_done = true;
                if patterns.is_empty() && !self.sequences() {
                    return;
                }
            }
            let _ = writeln!(self.out, "{sql};");
            let virtual_table = sql
                .get(..20)
                .is_some_and(|s| s.eq_ignore_ascii_case("CREATE VIRTUAL TABLE"));
            if kind == "table" && !virtual_table && !self.dump_rows(&name) {
                return;
            }
        }
        if !tables_done && patterns.is_empty() && !self.sequences() {
            return;
        }
        let _ = writeln!(self.out, "COMMIT;");
    }

    /// The rows of `table` as INSERT statements, streamed.
    fn dump_rows(&mut self, table: &str) -> bool {
        let db = match self.target() {
            Ok(db) => db,
            Err(failure) => {
                self.fail(failure);
                return false;
            }
        };
        let name = identifier(table);
        let mut out = std::mem::take(&mut self.out);
        let sql = format!("SELECT * FROM {name}");
        let outcome = self.interruptible(async {
            let mut rows = db.query(&sql, ()).await?;
            while let Some(row) = rows.next().await? {
                let values: Vec<String> = row.values().iter().map(dump_literal).collect();
                let _ = writeln!(out, "INSERT INTO {name} VALUES({});", values.join(","));
            }
            Ok::<(), sqlited_client::Error>(())
        });
        self.out = out;
        match outcome {
            Some(Ok(())) => true,
            Some(Err(err)) => {
                self.report(&err);
                false
            }
            None => {
                self.fail(Failure::Interrupted);
                false
            }
        }
    }

    /// AUTOINCREMENT's counters, as sqlite3 dumps them.
    fn sequences(&mut self) -> bool {
        let exists = self.rows(
            "SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'",
            Vec::new(),
        );
        match exists {
            None => false,
            Some(rows) if rows.is_empty() => true,
            Some(_) => {
                let Some(rows) = self.rows("SELECT name, seq FROM sqlite_sequence", Vec::new())
                else {
                    return false;
                };
                let _ = writeln!(self.out, "DELETE FROM sqlite_sequence;");
                for row in rows {
                    if let (Value::Text(name), seq) = (&row[0], &row[1]) {
                        let _ = writeln!(
                            self.out,
                            "INSERT INTO sqlite_sequence VALUES({},{});",
                            text_literal(name),
                            dump_literal(seq)
                        );
                    }
                }
                true
            }
        }
    }
}
