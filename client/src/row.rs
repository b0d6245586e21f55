//! Result rows and their columns; values read by index or by column name.

use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::value::{FromValue, Value};

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    name: String,
    decl_type: Option<String>,
}

impl Column {
    pub(crate) fn from_proto(column: sqlited_proto::v1::Column) -> Self {
        Self {
            name: column.name,
            decl_type: (!column.decl_type.is_empty()).then_some(column.decl_type),
        }
    }

    /// The column's name (its alias, for `expr AS alias`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The declared type of the table column it comes from, if any.
    pub fn decl_type(&self) -> Option<&str> {
        self.decl_type.as_deref()
    }
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[Column]>,
    values: Vec<Value>,
}

impl Row {
    pub(crate) fn new(columns: Arc<[Column]>, values: Vec<Value>) -> Self {
        Self { columns, values }
    }

    /// The value at `index` (a column number from 0, or a column name) as `T`.
    ///
    /// # Errors
    /// `ProgrammingError` for an unknown column, `DataError` when the value does not
    /// convert to `T`.
    pub fn get<T: FromValue>(&self, index: impl RowIndex) -> Result<T> {
        let i = index.index(&self.columns)?;
        T::from_value(&self.values[i]).map_err(|err| {
            Error::new(
                ErrorKind::Data,
                format!("column {i} ({:?}): {}", self.columns[i].name, err.message()),
            )
        })
    }

    /// The value at `index`, as it came.
    pub fn value(&self, index: impl RowIndex) -> Result<&Value> {
        Ok(&self.values[index.index(&self.columns)?])
    }

    /// Every value, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Takes the values out.
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }

    /// The columns of the result.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the row has no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Something that picks a column: its number (from 0) or its name.
pub trait RowIndex {
    /// The column number, or a `ProgrammingError` naming what is not there.
    fn index(&self, columns: &[Column]) -> Result<usize>;
}

impl RowIndex for usize {
    fn index(&self, columns: &[Column]) -> Result<usize> {
        if *self < columns.len() {
            Ok(*self)
        } else {
            Err(Error::new(
                ErrorKind::Programming,
                format!(
                    "column index {self} is out of range: the row has {} columns",
                    columns.len()
                ),
            ))
        }
    }
}

impl RowIndex for &str {
    fn index(&self, columns: &[Column]) -> Result<usize> {
        columns.iter().position(|c| c.name == *self).ok_or_else(|| {
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            Error::new(
                ErrorKind::Programming,
                format!("no column named {self:?}; the columns are {names:?}"),
            )
        })
    }
}
