//! Printing results in the shell's output modes: table, csv, json, line.

use std::fmt::Write as _;

use sqlited_client::Value;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// An ASCII table with a header.
    Table,
    /// RFC 4180 CSV with a header line.
    Csv,
    /// A JSON array of objects, one per row.
    Json,
    /// One `column = value` line per value, a blank line between rows.
    Line,
}

impl Mode {
    /// The mode called `name`.
    pub fn parse(name: &str) -> Option<Mode> {
        match name {
            "table" | "box" => Some(Mode::Table),
            "csv" => Some(Mode::Csv),
            "json" => Some(Mode::Json),
            "line" => Some(Mode::Line),
            _ => None,
        }
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        Value::Text(t) => t.clone(),
        Value::Blob(b) => {
            let mut hex = String::from("x'");
            for byte in b {
                let _ = write!(hex, "{byte:02x}");
            }
            hex.push('\'');
            hex
        }
    }
}

fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_value(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) if r.is_finite() => r.to_string(),
        Value::Real(r) => json_string(&r.to_string()),
        other => json_string(&text(other)),
    }
}

/// Renders `rows` under `columns` in `mode`; empty when there are no columns.
pub fn render(mode: Mode, columns: &[String], rows: &[Vec<Value>]) -> String {
    if columns.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    match mode {
        Mode::Table => {
            let cells: Vec<Vec<String>> =
                rows.iter().map(|r| r.iter().map(text).collect()).collect();
            let widths: Vec<usize> = columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    cells
                        .iter()
                        .map(|r| r[i].chars().count())
                        .chain([c.chars().count()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let rule: String = widths
                .iter()
                .map(|w| format!("+{}", "-".repeat(w + 2)))
                .collect::<String>()
                + "+\n";
            let line = |values: &[String]| -> String {
                values
                    .iter()
                    .zip(&widths)
                    .map(|(v, w)| format!("| {v}{} ", " ".repeat(w - v.chars().count())))
                    .collect::<String>()
                    + "|\n"
            };
            out.push_str(&rule);
            out.push_str(&line(columns));
            out.push_str(&rule);
            for row in &cells {
                out.push_str(&line(row));
            }
            out.push_str(&rule);
        }
        Mode::Csv => {
            out.push_str(
                &columns
                    .iter()
                    .map(|c| csv_field(c))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push('\n');
            for row in rows {
                out.push_str(
                    &row.iter()
                        .map(|v| csv_field(&text(v)))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                out.push('\n');
            }
        }
        Mode::Json => {
            let objects: Vec<String> = rows
                .iter()
                .map(|row| {
                    let fields: Vec<String> = columns
                        .iter()
                        .zip(row)
                        .map(|(c, v)| format!("{}:{}", json_string(c), json_value(v)))
                        .collect();
                    format!("{{{}}}", fields.join(","))
                })
                .collect();
            out.push_str(&format!("[{}]\n", objects.join(",\n")));
        }
        Mode::Line => {
            let width = columns.iter().map(|c| c.chars().count()).max().unwrap_or(0);
            for (i, row) in rows.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                for (c, v) in columns.iter().zip(row) {
                    out.push_str(&format!("{c:>width$} = {}\n", text(v)));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn modes() {
        let columns = vec!["a".to_string(), "b".to_string()];
        let rows = vec![
            vec![Value::Integer(1), Value::Text("x,\"y\"".into())],
            vec![Value::Null, Value::Blob(vec![0, 255])],
        ];
        assert_eq!(
            render(Mode::Csv, &columns, &rows),
            "a,b\n1,\"x,\"\"y\"\"\"\n,x'00ff'\n"
        );
        assert_eq!(
            render(Mode::Json, &columns, &rows),
            "[{\"a\":1,\"b\":\"x,\\\"y\\\"\"},\n{\"a\":null,\"b\":\"x'00ff'\"}]\n"
        );
        assert_eq!(
            render(Mode::Line, &columns, &rows[..1]),
            "a = 1\nb = x,\"y\"\n"
        );
        let table = render(Mode::Table, &columns, &rows);
        assert!(
            table.starts_with("+---+---------+\n| a | b       |\n"),
            "{table}"
        );
    }
}
