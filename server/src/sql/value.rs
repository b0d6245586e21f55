//! `sqlited.v1.Value` to and from SQLite values, and the size estimate used to cut result
//! batches.

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use sqlited_proto::v1::{Value, value::Kind};

use crate::error::{Error, Result};

/// Binds a proto [`Value`] without copying it.
pub struct Param<'a>(pub &'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let value = match &self.0.kind {
            None | Some(Kind::Null(_)) => ValueRef::Null,
            Some(Kind::Integer(i)) => ValueRef::Integer(*i),
            Some(Kind::Real(r)) => ValueRef::Real(*r),
            Some(Kind::Text(t)) => ValueRef::Text(t.as_bytes()),
            Some(Kind::Blob(b)) => ValueRef::Blob(b),
        };
        Ok(ToSqlOutput::Borrowed(value))
    }
}

/// The proto value of a result column; `column` names it, for the error message only.
pub fn from_sqlite(value: ValueRef<'_>, column: impl FnOnce() -> String) -> Result<Value> {
    let kind = match value {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(Kind::Integer(i)),
        ValueRef::Real(r) => Some(Kind::Real(r)),
        ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => Some(Kind::Text(text.to_owned())),
            Err(_) => {
                let column = column();
                return Err(Error::invalid(
                    "statement.sql",
                    format!(
                        "column {column:?} holds TEXT that is not valid UTF-8; \
                         select CAST({column} AS BLOB) to read its bytes"
                    ),
                ));
            }
        },
        ValueRef::Blob(bytes) => Some(Kind::Blob(bytes.to_vec())),
    };
    Ok(Value { kind })
}

/// About how many bytes `value` takes on the wire: exact enough to keep messages under
/// their byte bound, cheap enough to run on every value.
pub fn wire_size(value: &Value) -> usize {
    match &value.kind {
        None | Some(Kind::Null(_)) => 2,
        Some(Kind::Integer(_)) | Some(Kind::Real(_)) => 11,
        Some(Kind::Text(t)) => t.len() + 6,
        Some(Kind::Blob(b)) => b.len() + 6,
    }
}

/// [`wire_size`] of the value SQLite holds at `value`, before it is copied out.
pub fn wire_size_ref(value: ValueRef<'_>) -> usize {
    match value {
        ValueRef::Null => 2,
        ValueRef::Integer(_) | ValueRef::Real(_) => 11,
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => bytes.len() + 6,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn invalid_utf8_text_names_its_column() {
        match from_sqlite(ValueRef::Text(&[0x61, 0xff]), || "notes".to_string()) {
            Err(Error::InvalidArgument { message, .. }) => {
                assert!(message.contains("\"notes\""), "{message}")
            }
            other => panic!("expected an error, got {other:?}"),
        }
        let text = from_sqlite(ValueRef::Text(b"ok"), || {
            unreachable!("named only on error")
        })
        .unwrap();
        assert_eq!(text.kind, Some(Kind::Text("ok".into())));
    }
}
