//! Binding a request's parameters to a prepared statement, with errors that name the
//! parameter at fault.
//!
//! Positional values bind by index: `params[0]` to `?1` (or the first `?`), and so on.
//! Named values bind `:name`, `@name` and `$name` by the name without its sigil.

use std::collections::HashMap;

use rusqlite::Statement;
use sqlited_proto::v1::Value;

use super::value::Param;
use crate::error::{Error, Result};

/// Binds `params` and `named` to every parameter of `stmt`; every parameter needs exactly one
/// value and every value needs a parameter.
pub fn bind(
    stmt: &mut Statement<'_>,
    params: &[Value],
    named: &HashMap<String, Value>,
) -> Result<()> {
    let count = stmt.parameter_count();
    if params.len() > count {
        return Err(Error::invalid(
            "statement.params",
            format!(
                "{} positional values were given but the statement has {count} parameters",
                params.len()
            ),
        ));
    }
    let mut named_used = 0;
    for index in 1..=count {
        let name = stmt.parameter_name(index).map(str::to_owned);
        match name {
            Some(name) if !name.starts_with('?') => {
                let key = &name[1..];
                if index <= params.len() {
                    return Err(Error::invalid(
                        format!("statement.params[{}]", index - 1),
                        format!(
                            "parameter {index} of the statement is the named parameter {name}; \
                             pass it in named_params[{key:?}], not in params"
                        ),
                    ));
                }
                let value = named.get(key).ok_or_else(|| {
                    Error::invalid(
                        format!("statement.named_params[{key:?}]"),
                        format!(
                            "no value for the named parameter {name}; set named_params[{key:?}]"
                        ),
                    )
                })?;
                named_used += 1;
                stmt.raw_bind_parameter(index, Param(value))?;
            }
            positional => {
                let value = params.get(index - 1).ok_or_else(|| {
                    let shown = positional.unwrap_or_else(|| "?".to_string());
                    Error::invalid(
                        "statement.params",
                        format!(
                            "no value for parameter {index} ({shown}): the statement needs \
                             {} positional values but {} were given",
                            positional_count(stmt),
                            params.len()
                        ),
                    )
                })?;
                stmt.raw_bind_parameter(index, Param(value))?;
            }
        }
    }
    if named_used < named.len() {
        let unknown = named
            .keys()
            .find(|key| !has_named(stmt, key))
            .cloned()
            .unwrap_or_default();
        return Err(Error::invalid(
            format!("statement.named_params[{unknown:?}]"),
            format!("the statement has no parameter :{unknown}, @{unknown} or ${unknown}"),
        ));
    }
    Ok(())
}

/// The highest index of a positional (`?` or `?NNN`) parameter.
fn positional_count(stmt: &Statement<'_>) -> usize {
    (1..=stmt.parameter_count())
        .filter(|&i| stmt.parameter_name(i).is_none_or(|n| n.starts_with('?')))
        .max()
        .unwrap_or(0)
}

fn has_named(stmt: &Statement<'_>, key: &str) -> bool {
    [':', '@', '$']
        .iter()
        .any(|sigil| matches!(stmt.parameter_index(&format!("{sigil}{key}")), Ok(Some(_))))
}

#[cfg(test)]
mod test {
    use super::*;
    use rusqlite::Connection;
    use sqlited_proto::v1::value::Kind;

    fn int(i: i64) -> Value {
        Value {
            kind: Some(Kind::Integer(i)),
        }
    }

    fn run(sql: &str, params: &[Value], named: &[(&str, Value)]) -> Result<Vec<i64>> {
        let conn = Connection::open_in_memory()?;
        let mut stmt = conn.prepare(sql)?;
        let named: HashMap<String, Value> = named
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        bind(&mut stmt, params, &named)?;
        let mut rows = stmt.raw_query();
        let row = rows.next()?.expect("one row");
        let mut out = Vec::new();
        for i in 0..row.as_ref().column_count() {
            out.push(row.get(i)?);
        }
        Ok(out)
    }

    #[test]
    fn positional_numbered_and_named() -> Result<()> {
        assert_eq!(run("SELECT ?, ?", &[int(1), int(2)], &[])?, vec![1, 2]);
        assert_eq!(run("SELECT ?2, ?1", &[int(1), int(2)], &[])?, vec![2, 1]);
        assert_eq!(
            run(
                "SELECT :a, @b, $c, :a",
                &[],
                &[("a", int(1)), ("b", int(2)), ("c", int(3))]
            )?,
            vec![1, 2, 3, 1]
        );
        assert_eq!(
            run("SELECT ?, :x", &[int(7)], &[("x", int(8))])?,
            vec![7, 8]
        );
        Ok(())
    }

    #[test]
    fn every_mismatch_names_the_field() {
        let field = |r: Result<Vec<i64>>| match r {
            Err(Error::InvalidArgument { field, .. }) => field,
            other => panic!("expected InvalidArgument, got {other:?}"),
        };
        assert_eq!(
            field(run("SELECT ?, ?", &[int(1)], &[])),
            "statement.params"
        );
        assert_eq!(
            field(run("SELECT ?", &[int(1), int(2)], &[])),
            "statement.params"
        );
        assert_eq!(
            field(run("SELECT :a", &[], &[])),
            "statement.named_params[\"a\"]"
        );
        assert_eq!(
            field(run("SELECT :a", &[], &[("a", int(1)), ("zz", int(2))])),
            "statement.named_params[\"zz\"]"
        );
        assert_eq!(
            field(run("SELECT :a", &[int(1)], &[])),
            "statement.params[0]"
        );
    }
}
