//! What one statement answered, in a form both engines produce and that compares exactly:
//! reals by their bits, errors by SQLite's extended result code.

use std::fmt;

use rusqlite::types::ValueRef;
use sqlited_client::Value;
use tonic::Code;

/// One value of a result row.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell {
    Null,
    Integer(i64),
    /// The f64's bits: -0.0 differs from 0.0, and every NaN from every number.
    Real(u64),
    Text(String),
    Blob(Vec<u8>),
    /// TEXT that is not valid UTF-8 (only SQLite itself can hold it).
    BadText(Vec<u8>),
}

impl Cell {
    pub fn from_sqlite(value: ValueRef<'_>) -> Self {
        match value {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(i) => Cell::Integer(i),
            ValueRef::Real(r) => Cell::Real(r.to_bits()),
            ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => Cell::Text(text.to_owned()),
                Err(_) => Cell::BadText(bytes.to_vec()),
            },
            ValueRef::Blob(bytes) => Cell::Blob(bytes.to_vec()),
        }
    }

    pub fn from_client(value: &Value) -> Self {
        match value {
            Value::Null => Cell::Null,
            Value::Integer(i) => Cell::Integer(*i),
            Value::Real(r) => Cell::Real(r.to_bits()),
            Value::Text(text) => Cell::Text(text.clone()),
            Value::Blob(bytes) => Cell::Blob(bytes.clone()),
        }
    }

    /// About how many bytes the server needs to send it (`wire_size_ref` of the server).
    pub fn wire_size(&self) -> usize {
        match self {
            Cell::Null => 2,
            Cell::Integer(_) | Cell::Real(_) => 11,
            Cell::Text(text) => text.len() + 6,
            Cell::Blob(bytes) | Cell::BadText(bytes) => bytes.len() + 6,
        }
    }

    /// As sqllogictest scripts write a value: `NULL`, `(empty)` for empty text, reals with
    /// three decimals, blobs in hex.
    pub fn slt(&self) -> String {
        match self {
            Cell::Null => "NULL".into(),
            Cell::Integer(i) => i.to_string(),
            Cell::Real(bits) => format!("{:.3}", f64::from_bits(*bits)),
            Cell::Text(text) if text.is_empty() => "(empty)".into(),
            Cell::Text(text) => text.clone(),
            Cell::Blob(bytes) if bytes.is_empty() => "x''".into(),
            Cell::Blob(bytes) => {
                let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
                format!("x'{hex}'")
            }
            Cell::BadText(bytes) => format!("{bytes:?}"),
        }
    }

    /// The sqllogictest type letter of the value, `None` for NULL (which fits any).
    pub fn type_char(&self) -> Option<char> {
        match self {
            Cell::Null => None,
            Cell::Integer(_) => Some('I'),
            Cell::Real(_) => Some('R'),
            Cell::Text(_) | Cell::BadText(_) | Cell::Blob(_) => Some('T'),
        }
    }
}

/// Long values are cut in the report, so that a 1 MiB blob does not fill the screen.
fn cut(text: &str) -> String {
    if text.len() <= 80 {
        return text.to_owned();
    }
    let end = (0..=80).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    format!("{}… ({} bytes)", &text[..end], text.len())
}

impl fmt::Debug for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Null => write!(f, "NULL"),
            Cell::Integer(i) => write!(f, "{i}"),
            Cell::Real(bits) => write!(f, "{:?}r(0x{bits:016x})", f64::from_bits(*bits)),
            Cell::Text(text) => write!(f, "{:?}", cut(text)),
            Cell::Blob(bytes) => write!(f, "x'{}'", cut(&Cell::Blob(bytes.clone()).slt()[2..])),
            Cell::BadText(bytes) => write!(f, "bad-utf8{:?}", cut(&format!("{bytes:?}"))),
        }
    }
}

/// A result column: its name and declared type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub decl_type: Option<String>,
}

/// A statement that ran.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    pub rows_affected: u64,
    pub last_insert_rowid: i64,
}

impl Outcome {
    /// The most bytes one of its rows takes on the wire (as the server counts them).
    pub fn widest_row(&self) -> usize {
        self.rows
            .iter()
            .map(|row| 4 + row.iter().map(Cell::wire_size).sum::<usize>())
            .max()
            .unwrap_or(0)
    }
}

/// A statement that failed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// SQLite's extended result code, the only part compared.
    pub sqlite_code: Option<i32>,
    /// The server's gRPC status (`None` from the reference).
    pub status: Option<Code>,
    pub message: String,
}

impl PartialEq for Failure {
    fn eq(&self, other: &Self) -> bool {
        self.sqlite_code == other.sqlite_code
    }
}

/// What a statement answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Ran(Outcome),
    Failed(Failure),
}

impl Answer {
    /// The same answer with its rows in a fixed order (for `rowsort` queries).
    pub fn sorted(mut self) -> Self {
        if let Answer::Ran(outcome) = &mut self {
            outcome.rows.sort();
        }
        self
    }
}

impl From<rusqlite::Error> for Failure {
    fn from(err: rusqlite::Error) -> Self {
        Failure {
            sqlite_code: match &err {
                rusqlite::Error::SqliteFailure(code, _) => Some(code.extended_code),
                rusqlite::Error::SqlInputError { error, .. } => Some(error.extended_code),
                _ => None,
            },
            status: None,
            message: err.to_string(),
        }
    }
}

impl From<sqlited_client::Error> for Failure {
    fn from(err: sqlited_client::Error) -> Self {
        Failure {
            sqlite_code: err.sqlite_code(),
            status: err.status_code(),
            message: err.to_string(),
        }
    }
}
