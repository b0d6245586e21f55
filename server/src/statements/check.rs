//! An argument against its parameter's declaration: present or defaulted, NULL only where
//! allowed, the right type (text converted only where `coerce` allows), then every check.
//! All arguments of a call are checked, and every violation reported at once.

use std::collections::HashMap;

use sqlited_proto::v1::Value;
use sqlited_proto::v1::value::Kind as V;

use super::{Exposed, Kind, Param, timestamp};

/// The values to bind, by parameter name, or every violation as `(args.<name>, what)`.
pub fn arguments(
    statement: &Exposed,
    args: &HashMap<String, Value>,
) -> Result<HashMap<String, Value>, Vec<(String, String)>> {
    let mut bound = HashMap::new();
    let mut violations = Vec::new();
    for param in &statement.params {
        match argument(param, args.get(&param.name)) {
            Ok(value) => {
                bound.insert(param.name.clone(), value);
            }
            Err(what) => violations.push((format!("args.{}", param.name), what)),
        }
    }
    let mut unknown: Vec<&String> = args
        .keys()
        .filter(|name| !statement.params.iter().any(|p| &p.name == *name))
        .collect();
    unknown.sort();
    for name in unknown {
        let takes: Vec<&str> = statement.params.iter().map(|p| p.name.as_str()).collect();
        violations.push((
            format!("args.{name}"),
            format!(
                "{} has no parameter {name:?}; it takes: {}",
                statement.name,
                if takes.is_empty() {
                    "none".to_string()
                } else {
                    takes.join(", ")
                }
            ),
        ));
    }
    if violations.is_empty() {
        Ok(bound)
    } else {
        Err(violations)
    }
}

/// "an integer", "a text", …
fn a(kind: Kind) -> String {
    match kind {
        Kind::Integer => "an integer".into(),
        other => format!("a {}", other.name()),
    }
}

fn null() -> Value {
    Value {
        kind: Some(V::Null(0)),
    }
}

fn describe(value: &Value) -> String {
    match &value.kind {
        None | Some(V::Null(_)) => "NULL".into(),
        Some(V::Integer(i)) => format!("the integer {i}"),
        Some(V::Real(r)) => format!("the real {r}"),
        Some(V::Text(t)) if t.chars().count() > 40 => {
            format!("the text {:?}…", t.chars().take(40).collect::<String>())
        }
        Some(V::Text(t)) => format!("the text {t:?}"),
        Some(V::Blob(b)) => format!("a blob of {} bytes", b.len()),
    }
}

/// The value to bind for `param` given `arg` (`None`: left out), or what is wrong with it.
pub fn argument(param: &Param, arg: Option<&Value>) -> Result<Value, String> {
    let Some(arg) = arg else {
        return match (&param.default, param.nullable) {
            (Some(default), _) => Ok(default.clone()),
            (None, true) => Ok(null()),
            (None, false) => Err(format!("missing: give {}", a(param.kind))),
        };
    };
    if matches!(arg.kind, None | Some(V::Null(_))) {
        return if param.nullable {
            Ok(null())
        } else {
            Err(format!(
                "must not be NULL: give {} (the parameter is not nullable)",
                a(param.kind)
            ))
        };
    }
    let value = convert(param, arg)?;
    checks(param, &value)?;
    Ok(value)
}

/// `arg` as the parameter's type.
fn convert(param: &Param, arg: &Value) -> Result<Value, String> {
    let wrong = || {
        let coercion = if param.coerce {
            ""
        } else {
            " (text is not converted for this parameter)"
        };
        format!(
            "expected {}, got {}{coercion}",
            a(param.kind),
            describe(arg)
        )
    };
    let text = match &arg.kind {
        Some(V::Text(t)) if param.coerce => Some(t.trim()),
        _ => None,
    };
    let kind = match (param.kind, &arg.kind) {
        (Kind::Integer, Some(V::Integer(i))) => V::Integer(*i),
        (Kind::Integer, _) => V::Integer(text.and_then(|t| t.parse().ok()).ok_or_else(wrong)?),
        (Kind::Real, Some(V::Real(r))) => V::Real(*r),
        (Kind::Real, Some(V::Integer(i))) => V::Real(*i as f64),
        (Kind::Real, _) => V::Real(
            text.and_then(|t| t.parse::<f64>().ok())
                .filter(|r| r.is_finite())
                .ok_or_else(wrong)?,
        ),
        (Kind::Text, Some(V::Text(t))) => V::Text(t.clone()),
        (Kind::Blob, Some(V::Blob(b))) => V::Blob(b.clone()),
        (Kind::Bool, Some(V::Integer(i @ (0 | 1)))) => V::Integer(*i),
        (Kind::Bool, _) => V::Integer(match text.map(str::to_ascii_lowercase).as_deref() {
            Some("true" | "1" | "yes") => 1,
            Some("false" | "0" | "no") => 0,
            _ => return Err(format!("{}; a bool is 0 or 1", wrong())),
        }),
        (Kind::Timestamp { unix }, Some(V::Integer(seconds))) => stamp(*seconds, unix),
        (Kind::Timestamp { unix }, Some(V::Text(t))) => match timestamp::parse(t) {
            Some(seconds) => stamp(seconds, unix),
            None => {
                return Err(format!(
                    "{} is not an ISO-8601 date-time (2026-11-26T10:30:00Z) nor unix seconds",
                    describe(arg)
                ));
            }
        },
        _ => return Err(wrong()),
    };
    Ok(Value { kind: Some(kind) })
}

fn stamp(seconds: i64, unix: bool) -> V {
    if unix {
        V::Integer(seconds)
    } else {
        V::Text(timestamp::format(seconds))
    }
}

/// The number a bound applies to: the value, a bool's 0/1, a timestamp's unix seconds.
fn number(value: &Value) -> Option<f64> {
    match &value.kind {
        Some(V::Integer(i)) => Some(*i as f64),
        Some(V::Real(r)) => Some(*r),
        Some(V::Text(t)) => timestamp::parse(t).map(|s| s as f64),
        _ => None,
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The declared checks, against a converted value.
fn checks(param: &Param, value: &Value) -> Result<(), String> {
    if let Some(n) = number(value) {
        if let Some(min) = param.min
            && n < min
        {
            return Err(format!("{} is below the minimum {min}", describe(value)));
        }
        if let Some(max) = param.max
            && n > max
        {
            return Err(format!("{} is above the maximum {max}", describe(value)));
        }
    }
    let length = match &value.kind {
        Some(V::Text(t)) if param.kind == Kind::Text => {
            Some((t.chars().count() as u64, "characters"))
        }
        Some(V::Blob(b)) => Some((b.len() as u64, "bytes")),
        _ => None,
    };
    if let Some((len, unit)) = length {
        if let Some(min) = param.min_length
            && len < min
        {
            return Err(format!(
                "is {len} {unit} long, shorter than the minimum {min}"
            ));
        }
        if let Some(max) = param.max_length
            && len > max
        {
            return Err(format!(
                "is {len} {unit} long, longer than the maximum {max}"
            ));
        }
    }
    if let (Some((source, regex)), Some(V::Text(t))) = (&param.regex, &value.kind)
        && !regex.is_match(t)
    {
        return Err(format!(
            "{} does not match the pattern {source}",
            describe(value)
        ));
    }
    if !param.one_of.is_empty() && !param.one_of.iter().any(|allowed| same(allowed, value)) {
        let allowed: Vec<String> = param.one_of.iter().map(describe).collect();
        return Err(format!(
            "{} is not one of the allowed values: {}",
            describe(value),
            allowed.join(", ")
        ));
    }
    Ok(())
}
