//! Values as SQLite stores them, and the [`ToValue`] / [`FromValue`] conversions from and to
//! Rust types.

use sqlited_proto::v1::{self as proto, value::Kind};

use crate::error::{Error, ErrorKind, Result};

/// One SQLite value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit signed integer.
    Integer(i64),
    /// A double.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Raw bytes.
    Blob(Vec<u8>),
}

impl Value {
    /// The SQLite storage class name: `NULL`, `INTEGER`, `REAL`, `TEXT` or `BLOB`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Integer(_) => "INTEGER",
            Value::Real(_) => "REAL",
            Value::Text(_) => "TEXT",
            Value::Blob(_) => "BLOB",
        }
    }
}

impl From<proto::Value> for Value {
    fn from(value: proto::Value) -> Self {
        match value.kind {
            None | Some(Kind::Null(_)) => Value::Null,
            Some(Kind::Integer(i)) => Value::Integer(i),
            Some(Kind::Real(r)) => Value::Real(r),
            Some(Kind::Text(t)) => Value::Text(t),
            Some(Kind::Blob(b)) => Value::Blob(b),
        }
    }
}

impl From<Value> for proto::Value {
    fn from(value: Value) -> Self {
        let kind = match value {
            Value::Null => None,
            Value::Integer(i) => Some(Kind::Integer(i)),
            Value::Real(r) => Some(Kind::Real(r)),
            Value::Text(t) => Some(Kind::Text(t)),
            Value::Blob(b) => Some(Kind::Blob(b)),
        };
        proto::Value { kind }
    }
}

/// A Rust value that can be bound to a statement parameter.
pub trait ToValue {
    /// The SQLite value.
    fn to_value(&self) -> Value;
}

/// A Rust type a result value can be read as.
pub trait FromValue: Sized {
    /// Converts `value`, or says why it cannot.
    fn from_value(value: &Value) -> Result<Self>;
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

macro_rules! integer_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Integer(i64::from(*self))
            }
        }
    )*};
}
integer_to_value!(i8, i16, i32, i64, u8, u16, u32, bool);

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

impl ToValue for f32 {
    fn to_value(&self) -> Value {
        Value::Real(f64::from(*self))
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

fn mismatch<T>(value: &Value, wanted: &str) -> Result<T> {
    Err(Error::new(
        ErrorKind::Data,
        format!("cannot read a {} value as {wanted}", value.type_name()),
    ))
}

impl FromValue for Value {
    fn from_value(value: &Value) -> Result<Self> {
        Ok(value.clone())
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Integer(i) => Ok(*i),
            other => mismatch(other, "i64"),
        }
    }
}

macro_rules! narrow_integer_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: &Value) -> Result<Self> {
                let wide = i64::from_value(value).or_else(|_| mismatch(value, stringify!($t)))?;
                <$t>::try_from(wide).map_err(|_| {
                    Error::new(ErrorKind::Data, format!("{wide} does not fit in {}", stringify!($t)))
                })
            }
        }
    )*};
}
narrow_integer_from_value!(i8, i16, i32, u8, u16, u32, u64);

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Integer(i) => Ok(*i != 0),
            other => mismatch(other, "bool"),
        }
    }
}

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Real(r) => Ok(*r),
            Value::Integer(i) => Ok(*i as f64),
            other => mismatch(other, "f64"),
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Text(t) => Ok(t.clone()),
            other => mismatch(other, "String"),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Blob(b) => Ok(b.clone()),
            Value::Text(t) => Ok(t.as_bytes().to_vec()),
            other => mismatch(other, "Vec<u8>"),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn conversions() -> Result<()> {
        assert_eq!(i32::from_value(&7i64.to_value())?, 7);
        assert!(i32::from_value(&Value::Integer(i64::MAX)).is_err());
        assert!(u32::from_value(&Value::Integer(-1)).is_err());
        assert_eq!(Option::<String>::from_value(&Value::Null)?, None);
        assert_eq!(None::<i64>.to_value(), Value::Null);
        assert_eq!(true.to_value(), Value::Integer(1));
        assert_eq!("é".to_value(), Value::Text("é".into()));
        assert_eq!(b"\0a"[..].to_value(), Value::Blob(vec![0, b'a']));
        let err = String::from_value(&Value::Integer(1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Data);
        Ok(())
    }

    #[test]
    fn proto_round_trip() {
        for v in [
            Value::Null,
            Value::Integer(i64::MIN),
            Value::Real(-0.5),
            Value::Text(String::new()),
            Value::Blob(Vec::new()),
        ] {
            assert_eq!(Value::from(proto::Value::from(v.clone())), v);
        }
    }
}
