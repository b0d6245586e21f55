//! Statement parameters: positional (`?`, `?NNN`) or named (`:name`, `@name`, `$name`), and
//! the [`params!`](crate::params) and [`named_params!`](crate::named_params) macros.

use std::collections::HashMap;

use sqlited_proto::v1 as proto;

use crate::value::{ToValue, Value};

/// The values bound to one statement.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Params {
    /// No parameters.
    #[default]
    None,
    /// `values[0]` binds `?1` (or the first `?`), and so on.
    Positional(Vec<Value>),
    /// Values by parameter name; the name may be written with or without its sigil.
    Named(Vec<(String, Value)>),
}

impl Params {
    /// The statement message for `sql` with these parameters.
    pub(crate) fn into_statement(self, sql: &str) -> proto::Statement {
        let mut statement = proto::Statement {
            sql: sql.to_string(),
            ..Default::default()
        };
        match self {
            Params::None => {}
            Params::Positional(values) => {
                statement.params = values.into_iter().map(Into::into).collect();
            }
            Params::Named(pairs) => {
                statement.named_params = pairs
                    .into_iter()
                    .map(|(name, value)| (strip_sigil(&name).to_string(), value.into()))
                    .collect::<HashMap<_, _>>();
            }
        }
        statement
    }
}

fn strip_sigil(name: &str) -> &str {
    name.strip_prefix([':', '@', '$']).unwrap_or(name)
}

impl From<()> for Params {
    fn from((): ()) -> Self {
        Params::None
    }
}

impl From<Vec<Value>> for Params {
    fn from(values: Vec<Value>) -> Self {
        Params::Positional(values)
    }
}

impl<T: ToValue, const N: usize> From<[T; N]> for Params {
    fn from(values: [T; N]) -> Self {
        Params::Positional(values.iter().map(ToValue::to_value).collect())
    }
}

impl<T: ToValue> From<&[T]> for Params {
    fn from(values: &[T]) -> Self {
        Params::Positional(values.iter().map(ToValue::to_value).collect())
    }
}

/// Positional parameters of any mix of types: `params![1, "two", None::<i64>]`.
#[macro_export]
macro_rules! params {
    () => { $crate::Params::None };
    ($($value:expr),+ $(,)?) => {
        $crate::Params::Positional(vec![$($crate::ToValue::to_value(&$value)),+])
    };
}

/// Named parameters: `named_params! { ":id" => 7, "name" => "Ada" }` (the sigil is optional).
#[macro_export]
macro_rules! named_params {
    () => { $crate::Params::None };
    ($($name:expr => $value:expr),+ $(,)?) => {
        $crate::Params::Named(vec![$(($name.to_string(), $crate::ToValue::to_value(&$value))),+])
    };
}

/// Arguments of an exposed statement (`Database::call`): `args! { "name" => "ann", "age" => 42 }`.
#[macro_export]
macro_rules! args {
    () => { $crate::Params::None };
    ($($name:expr => $value:expr),+ $(,)?) => {
        $crate::Params::Named(vec![$(($name.to_string(), $crate::ToValue::to_value(&$value))),+])
    };
}

#[cfg(test)]
mod test {
    use crate::{Params, Value};

    #[test]
    fn macros() {
        assert_eq!(
            crate::params![1, "a", None::<i64>],
            Params::Positional(vec![
                Value::Integer(1),
                Value::Text("a".into()),
                Value::Null
            ])
        );
        let statement = crate::named_params! { ":a" => 1, "@b" => 2, "c" => 3 }.into_statement("x");
        let mut keys: Vec<_> = statement.named_params.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["a", "b", "c"]);
    }
}
