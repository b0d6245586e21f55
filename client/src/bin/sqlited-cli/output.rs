//! Printing results in sqlite3's output modes, row by row as they stream in.
//!
//! Memory stays bounded whatever the result size: every mode prints each row when it
//! arrives, except the bordered ones (`column`, `table`, `box`, `markdown`), which hold the
//! first [`SCREEN`] rows to size their columns and print later rows in those widths.

use std::io::{self, Write};

use sqlited_client::Value;

use crate::literal::{display, identifier, literal, real_literal};

/// How many rows the bordered modes hold to size their columns.
pub const SCREEN: usize = 1000;

/// How results are printed (`.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Values separated by `|` (`.separator`).
    List,
    /// Aligned columns under a dashed header line.
    Column,
    /// A table drawn with box characters.
    Box,
    /// A Markdown table.
    Markdown,
    /// `INSERT INTO table VALUES(…);` statements.
    Insert,
    /// Values as SQL literals, comma separated.
    Quote,
    /// RFC 4180 CSV.
    Csv,
    /// A JSON array of objects, one per row.
    Json,
    /// One `column = value` line per value, a blank line between rows.
    Line,
    /// An ASCII table.
    Table,
    /// Values separated by tabs.
    Tabs,
}

impl Mode {
    /// Every mode, as `.mode` names them.
    pub const ALL: [(&'static str, Mode); 11] = [
        ("list", Mode::List),
        ("column", Mode::Column),
        ("box", Mode::Box),
        ("markdown", Mode::Markdown),
        ("insert", Mode::Insert),
        ("quote", Mode::Quote),
        ("csv", Mode::Csv),
        ("json", Mode::Json),
        ("line", Mode::Line),
        ("table", Mode::Table),
        ("tabs", Mode::Tabs),
    ];

    /// The mode called `name`.
    pub fn parse(name: &str) -> Option<Mode> {
        Self::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, m)| *m)
    }

    /// The mode's name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("?", |(n, _)| n)
    }

    fn bordered(self) -> bool {
        matches!(
            self,
            Mode::Column | Mode::Table | Mode::Box | Mode::Markdown
        )
    }
}

/// What `.mode`, `.headers`, `.nullvalue` and `.separator` set.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    /// Header lines in `list`, `csv`, `quote`, `tabs` and `insert` (column names); the
    /// bordered modes always have one.
    pub headers: bool,
    /// How NULL shows (`.nullvalue`).
    pub null: String,
    /// `.separator`: between values, and after each row; `None`: the mode's own.
    pub column_separator: Option<String>,
    pub row_separator: Option<String>,
    /// The table named by `insert` statements (`.mode insert TABLE`).
    pub table: String,
}

impl Settings {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            headers: true,
            null: String::new(),
            column_separator: None,
            row_separator: None,
            table: "table".into(),
        }
    }

    fn column_separator(&self) -> &str {
        match (&self.column_separator, self.mode) {
            (Some(sep), Mode::List | Mode::Csv) => sep,
            (_, Mode::Csv | Mode::Quote) => ",",
            (_, Mode::Tabs) => "\t",
            _ => "|",
        }
    }

    fn row_separator(&self) -> &str {
        self.row_separator.as_deref().unwrap_or("\n")
    }
}

/// Prints one result: [`row`](Self::row) for each row as it arrives, then
/// [`finish`](Self::finish).
pub struct Printer {
    settings: Settings,
    columns: Vec<String>,
    rows: u64,
    /// The bordered modes' first screen, until the widths are known.
    held: Vec<Vec<String>>,
    widths: Option<Vec<usize>>,
}

impl Printer {
    pub fn new(settings: &Settings, columns: Vec<String>) -> Self {
        Self {
            settings: settings.clone(),
            columns,
            rows: 0,
            held: Vec::new(),
            widths: None,
        }
    }

    /// Prints one row (or holds it, in a bordered mode's first screen).
    pub fn row(&mut self, out: &mut dyn Write, values: &[Value]) -> io::Result<()> {
        let first = self.rows == 0;
        self.rows += 1;
        let s = &self.settings;
        let sep = s.column_separator();
        let end = s.row_separator();
        match s.mode {
            mode if mode.bordered() => {
                let cells: Vec<String> = values.iter().map(|v| display(v, &s.null)).collect();
                if self.widths.is_some() {
                    self.print_cells(out, &cells)?;
                } else {
                    self.held.push(cells);
                    if self.held.len() >= SCREEN {
                        self.release(out)?;
                    }
                }
            }
            Mode::List | Mode::Tabs | Mode::Csv => {
                let csv = s.mode == Mode::Csv;
                let field = |text: &str, null: bool| {
                    if csv && !null {
                        csv_field(text, sep)
                    } else {
                        text.to_string()
                    }
                };
                if first && s.headers {
                    let header: Vec<String> =
                        self.columns.iter().map(|c| field(c, false)).collect();
                    write!(out, "{}{end}", header.join(sep))?;
                }
                let fields: Vec<String> = values
                    .iter()
                    .map(|v| field(&display(v, &s.null), matches!(v, Value::Null)))
                    .collect();
                write!(out, "{}{end}", fields.join(sep))?;
            }
            Mode::Quote => {
                if first && s.headers {
                    let header: Vec<String> = self
                        .columns
                        .iter()
                        .map(|c| crate::literal::text_literal(c))
                        .collect();
                    write!(out, "{}{end}", header.join(sep))?;
                }
                let fields: Vec<String> = values.iter().map(literal).collect();
                write!(out, "{}{end}", fields.join(sep))?;
            }
            Mode::Insert => {
                let columns = if s.headers {
                    let names: Vec<String> = self.columns.iter().map(|c| identifier(c)).collect();
                    format!("({})", names.join(","))
                } else {
                    String::new()
                };
                let fields: Vec<String> = values.iter().map(crate::literal::dump_literal).collect();
                write!(
                    out,
                    "INSERT INTO {}{columns} VALUES({});{end}",
                    identifier(&s.table),
                    fields.join(",")
                )?;
            }
            Mode::Json => {
                out.write_all(if first { b"[" } else { b",\n" })?;
                let fields: Vec<String> = self
                    .columns
                    .iter()
                    .zip(values)
                    .map(|(c, v)| format!("{}:{}", json_string(c), json_value(v)))
                    .collect();
                write!(out, "{{{}}}", fields.join(","))?;
            }
            Mode::Line => {
                if !first {
                    out.write_all(end.as_bytes())?;
                }
                let width = self
                    .columns
                    .iter()
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(5);
                for (c, v) in self.columns.iter().zip(values) {
                    write!(out, "{c:>width$} = {}{end}", display(v, &s.null))?;
                }
            }
            _ => unreachable!("every mode is handled"),
        }
        Ok(())
    }

    /// Ends the result.
    pub fn finish(mut self, out: &mut dyn Write) -> io::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        match self.settings.mode {
            mode if mode.bordered() => {
                if self.widths.is_none() {
                    self.release(out)?;
                }
                let widths = self.widths.clone().unwrap_or_default();
                match mode {
                    Mode::Table => out.write_all(rule(&widths, "+", "+", "+", "-").as_bytes())?,
                    Mode::Box => out.write_all(rule(&widths, "└", "┴", "┘", "─").as_bytes())?,
                    _ => {}
                }
            }
            Mode::Json => out.write_all(b"]\n")?,
            _ => {}
        }
        Ok(())
    }

    /// Sizes the columns from the rows held, prints the header and those rows.
    fn release(&mut self, out: &mut dyn Write) -> io::Result<()> {
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                self.held
                    .iter()
                    .map(|r| r.get(i).map_or(0, |v| v.chars().count()))
                    .chain([c.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let centred = |c: &String, w: usize| {
            let n = c.chars().count();
            format!(
                "{}{c}{}",
                " ".repeat((w - n) / 2),
                " ".repeat((w - n).div_ceil(2))
            )
        };
        match self.settings.mode {
            Mode::Column => {
                let header: Vec<String> = self
                    .columns
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| pad(c, *w))
                    .collect();
                let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
                writeln!(out, "{}\n{}", header.join("  "), dashes.join("  "))?;
            }
            Mode::Table | Mode::Box | Mode::Markdown => {
                let (v, top, mid) = match self.settings.mode {
                    Mode::Table => (
                        "|",
                        Some(rule(&widths, "+", "+", "+", "-")),
                        rule(&widths, "+", "+", "+", "-"),
                    ),
                    Mode::Box => (
                        "│",
                        Some(rule(&widths, "┌", "┬", "┐", "─")),
                        rule(&widths, "├", "┼", "┤", "─"),
                    ),
                    _ => ("|", None, rule(&widths, "|", "|", "|", "-")),
                };
                if let Some(top) = top {
                    out.write_all(top.as_bytes())?;
                }
                let cells: Vec<String> = self
                    .columns
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| centred(c, *w))
                    .collect();
                writeln!(out, "{v} {} {v}", cells.join(&format!(" {v} ")))?;
                out.write_all(mid.as_bytes())?;
            }
            _ => {}
        }
        self.widths = Some(widths);
        for cells in std::mem::take(&mut self.held) {
            self.print_cells(out, &cells)?;
        }
        Ok(())
    }

    fn print_cells(&self, out: &mut dyn Write, cells: &[String]) -> io::Result<()> {
        let widths = self.widths.as_deref().unwrap_or_default();
        let padded: Vec<String> = cells.iter().zip(widths).map(|(c, w)| pad(c, *w)).collect();
        match self.settings.mode {
            Mode::Column => writeln!(out, "{}", padded.join("  ")),
            Mode::Box => writeln!(out, "│ {} │", padded.join(" │ ")),
            _ => writeln!(out, "| {} |", padded.join(" | ")),
        }
    }
}

fn pad(text: &str, width: usize) -> String {
    let n = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(n)))
}

fn rule(widths: &[usize], left: &str, cross: &str, right: &str, line: &str) -> String {
    let parts: Vec<String> = widths.iter().map(|w| line.repeat(w + 2)).collect();
    format!("{left}{}{right}\n", parts.join(cross))
}

/// A CSV field, quoted as sqlite3 quotes it: when empty, or holding the separator, a
/// quote, a space or control character, or any non-ASCII byte.
fn csv_field(field: &str, separator: &str) -> String {
    let needs = field.is_empty()
        || field.contains(separator)
        || field
            .bytes()
            .any(|b| b <= b' ' || b == b'"' || b == b'\'' || b >= 0x7f);
    if needs {
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
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
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
        Value::Real(r) if r.is_finite() => real_literal(*r),
        Value::Real(_) => "null".into(),
        other => json_string(&display(other, "")),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn render(settings: &Settings, rows: &[Vec<Value>]) -> String {
        let mut out = Vec::new();
        let mut printer = Printer::new(settings, vec!["a".into(), "b".into()]);
        for row in rows {
            printer.row(&mut out, row).unwrap();
        }
        printer.finish(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn modes() {
        let rows = vec![
            vec![Value::Integer(1), Value::Text("x,\"y\"".into())],
            vec![Value::Null, Value::Blob(vec![0, 255])],
        ];
        let mut settings = Settings::new(Mode::Csv);
        assert_eq!(
            render(&settings, &rows),
            "a,b\n1,\"x,\"\"y\"\"\"\n,\"x'00ff'\"\n"
        );
        settings.mode = Mode::Json;
        assert_eq!(
            render(&settings, &rows),
            "[{\"a\":1,\"b\":\"x,\\\"y\\\"\"},\n{\"a\":null,\"b\":\"x'00ff'\"}]\n"
        );
        settings.mode = Mode::Line;
        assert_eq!(
            render(&settings, &rows[..1]),
            "    a = 1\n    b = x,\"y\"\n"
        );
        settings.mode = Mode::Table;
        let table = render(&settings, &rows);
        assert!(
            table.starts_with("+---+---------+\n| a |    b    |\n"),
            "{table}"
        );
        assert_eq!(render(&settings, &[]), "");
    }

    #[test]
    fn bordered_modes_print_past_the_first_screen() {
        let settings = Settings::new(Mode::Column);
        let rows: Vec<Vec<Value>> = (0..SCREEN + 5)
            .map(|i| vec![Value::Integer(i as i64), Value::Null])
            .collect();
        let out = render(&settings, &rows);
        assert_eq!(out.lines().count(), SCREEN + 5 + 2);
    }
}
