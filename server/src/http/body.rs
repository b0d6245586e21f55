//! Request bodies: read within `--max-message-bytes`, parsed as JSON (strictly: no key given
//! twice, [`super::json`]), decoded into the services' request messages with errors naming
//! the field at fault. Every bad body is an INVALID_ARGUMENT (HTTP 400) saying what to send
//! instead; nothing here panics on input.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{Map, Value as Json};
use sqlited_proto::v1::{Statement, Value};

use super::values::from_json;
use crate::error::{Error, Result};

/// Why a body could not be read.
pub enum Refused {
    /// Larger than the limit.
    TooLarge(usize),
    /// Refused by the connection's bounds on bodies ([`crate::connections`]): too slow
    /// (DEADLINE_EXCEEDED) or over a byte budget (RESOURCE_EXHAUSTED).
    Connection(tonic::Status),
    /// Anything else, as the error to answer.
    Bad(Error),
}

/// The body's bytes, at most `limit` of them.
pub async fn read(
    body: axum::body::Body,
    headers: &http::HeaderMap,
    limit: usize,
) -> Result<Bytes, Refused> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Refused::TooLarge(limit));
    }
    use http_body_util::BodyExt;
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(Refused::TooLarge(limit)),
        Err(err) if crate::connections::refusal(&*err).is_some() => {
            let status = crate::connections::refusal(&*err).expect("found just now");
            Err(Refused::Connection(status.clone()))
        }
        Err(err) => Err(Refused::Bad(Error::invalid(
            "body",
            format!("the request body could not be read: {err}"),
        ))),
    }
}

/// The body as a JSON object; an empty body is `{}`.
pub fn object(bytes: &[u8]) -> Result<Map<String, Json>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match super::json::parse(bytes) {
        Ok(Json::Object(object)) => Ok(object),
        Ok(other) => Err(Error::invalid(
            "body",
            format!("the body must be a JSON object, not {}", what(&other)),
        )),
        // Valid JSON, refused: a key given twice.
        Err(err) if err.classify() == serde_json::error::Category::Data => {
            Err(Error::invalid("body", err.to_string()))
        }
        Err(err) => Err(Error::invalid(
            "body",
            format!("the body is not valid JSON: {err}"),
        )),
    }
}

fn what(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Refuses fields of `object` other than `known`, so a typo is not silently ignored.
pub fn only(object: &Map<String, Json>, known: &[&str], prefix: &str) -> Result<()> {
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        Some(extra) => Err(Error::invalid(
            format!("{prefix}{extra}"),
            format!(
                "unknown field {extra:?}; the fields here are: {}",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// A statement `{sql, params}`; `prefix` places its fields (`statements[2].`).
pub fn statement(object: &Map<String, Json>, prefix: &str) -> Result<Statement> {
    only(object, &["sql", "params"], prefix)?;
    let sql = match object.get("sql") {
        Some(Json::String(sql)) => sql.clone(),
        Some(other) => {
            return Err(Error::invalid(
                format!("{prefix}sql"),
                format!("sql must be a string, not {}", what(other)),
            ));
        }
        None => {
            return Err(Error::invalid(
                format!("{prefix}sql"),
                "the statement has no sql: send {\"sql\": \"SELECT …\", \"params\": […]}",
            ));
        }
    };
    let mut statement = Statement {
        sql,
        ..Default::default()
    };
    match object.get("params") {
        None | Some(Json::Null) => {}
        Some(Json::Array(values)) => {
            statement.params = values
                .iter()
                .enumerate()
                .map(|(i, v)| from_json(v, &format!("{prefix}params[{i}]")))
                .collect::<Result<_>>()?;
        }
        Some(Json::Object(named)) => {
            statement.named_params = named_values(named, &format!("{prefix}params"))?;
        }
        Some(other) => {
            return Err(Error::invalid(
                format!("{prefix}params"),
                format!(
                    "params must be an array (positional: ?, ?1) or an object (named: :name), \
                     not {}",
                    what(other)
                ),
            ));
        }
    }
    Ok(statement)
}

/// Named values by name; a leading `:`, `@` or `$` is dropped (`{":id": 1}` binds `:id`).
fn named_values(named: &Map<String, Json>, field: &str) -> Result<HashMap<String, Value>> {
    let mut values = HashMap::with_capacity(named.len());
    for (name, value) in named {
        let key = name
            .strip_prefix([':', '@', '$'])
            .unwrap_or(name)
            .to_string();
        let value = from_json(value, &format!("{field}[{name:?}]"))?;
        if values.insert(key, value).is_some() {
            return Err(Error::invalid(
                format!("{field}[{name:?}]"),
                format!("{name:?} names a parameter given already (with another sigil)"),
            ));
        }
    }
    Ok(values)
}

/// The statements of a batch `{"statements": [{sql, params}, …]}`.
pub fn batch(object: &Map<String, Json>) -> Result<Vec<Statement>> {
    only(object, &["statements"], "")?;
    match object.get("statements") {
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Json::Object(o) => statement(o, &format!("statements[{i}].")),
                other => Err(Error::invalid(
                    format!("statements[{i}]"),
                    format!(
                        "a statement is an object {{sql, params}}, not {}",
                        what(other)
                    ),
                )),
            })
            .collect(),
        _ => Err(Error::invalid(
            "statements",
            "a batch is {\"statements\": [{\"sql\": …, \"params\": […]}, …]}",
        )),
    }
}

/// A field that must be a boolean when present.
pub fn flag(object: &Map<String, Json>, name: &str) -> Result<bool> {
    match object.get(name) {
        None | Some(Json::Null) => Ok(false),
        Some(Json::Bool(b)) => Ok(*b),
        Some(other) => Err(Error::invalid(
            name,
            format!("{name} must be true or false, not {}", what(other)),
        )),
    }
}

/// A field that must be an unsigned 32-bit integer when present.
pub fn u32_field(object: &Map<String, Json>, name: &str) -> Result<u32> {
    match object.get(name) {
        None | Some(Json::Null) => Ok(0),
        Some(Json::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                Error::invalid(
                    name,
                    format!("{name} must be an integer from 0 to {}", u32::MAX),
                )
            }),
        Some(other) => Err(Error::invalid(
            name,
            format!("{name} must be an integer, not {}", what(other)),
        )),
    }
}

/// A field that must be a string when present.
pub fn string<'a>(object: &'a Map<String, Json>, name: &str) -> Result<Option<&'a str>> {
    match object.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(other) => Err(Error::invalid(
            name,
            format!("{name} must be a string, not {}", what(other)),
        )),
    }
}

/// The arguments of a call from a JSON object body: plain or typed values by name.
pub fn call_args(object: &Map<String, Json>) -> Result<HashMap<String, Value>> {
    object
        .iter()
        .map(|(name, v)| Ok((name.clone(), from_json(v, &format!("args.{name}"))?)))
        .collect()
}

/// The arguments of a call from a query string `a=1&b=x`: every value is TEXT (the
/// statement's `coerce` rules convert it, as for any text argument). A name given twice, or
/// a part that is not valid UTF-8 once percent-decoded, is refused.
pub fn query_args(query: &str) -> Result<HashMap<String, Value>> {
    let mut args = HashMap::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = decode(name, "the query string")?;
        let value = decode(value, &format!("args.{name}"))?;
        let value = Value {
            kind: Some(sqlited_proto::v1::value::Kind::Text(value)),
        };
        if args.insert(name.clone(), value).is_some() {
            return Err(Error::invalid(
                format!("args.{name}"),
                format!("{name:?} is given twice in the query string; give it once"),
            ));
        }
    }
    Ok(args)
}

/// The statement of a `GET …/query` query string: `q=SQL` once, then `p=JSON` per
/// positional parameter in order, and `:name=JSON` (or `@name`, `$name`) per named one; each
/// value is JSON in the encoding of bodies (`p=1`, `p="text"`, `p=null`,
/// `p={"type":"blob","base64":"AAEC"}`), percent-encoded as query strings are.
pub fn query_statement(query: &str) -> Result<Statement> {
    let mut sql = None;
    let mut statement = Statement::default();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = decode(name, "the query string")?;
        let value = decode(value, &name)?;
        let json = |field: &str| -> Result<Value> {
            let parsed: Json = serde_json::from_str(&value).map_err(|_| {
                Error::invalid(
                    field,
                    format!(
                        "{value:?} is not a JSON value: a parameter in the query string is \
                         JSON, so text is quoted (p=\"ann\", with curl: --data-urlencode \
                         'p=\"ann\"')"
                    ),
                )
            })?;
            from_json(&parsed, field)
        };
        match name.as_str() {
            "q" if sql.is_some() => {
                return Err(Error::invalid("q", "q is given twice; give the SQL once"));
            }
            "q" => sql = Some(value.clone()),
            "p" => {
                let field = format!("params[{}]", statement.params.len());
                let value = json(&field)?;
                statement.params.push(value);
            }
            named if named.starts_with([':', '@', '$']) && named.len() > 1 => {
                let field = format!("params[{named:?}]");
                let value = json(&field)?;
                if statement
                    .named_params
                    .insert(named[1..].to_string(), value)
                    .is_some()
                {
                    return Err(Error::invalid(
                        field,
                        format!("{named:?} names a parameter given already"),
                    ));
                }
            }
            other => {
                return Err(Error::invalid(
                    other,
                    format!(
                        "unknown query parameter {other:?}: GET …/query takes q=SQL, p=JSON \
                         (positional, in order) and :name=JSON (named)"
                    ),
                ));
            }
        }
    }
    statement.sql = sql.ok_or_else(|| {
        Error::invalid(
            "q",
            "the query string has no q: GET /v1/databases/{db}/query?q=SELECT… (POST for a \
             JSON body)",
        )
    })?;
    Ok(statement)
}

/// A percent-encoded query-string part (`+` is a space).
fn decode(part: &str, field: &str) -> Result<String> {
    let spaced = part.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            Error::invalid(
                field,
                "the query string holds a percent-encoded part that is not valid UTF-8",
            )
        })
}

#[cfg(test)]
mod test {
    use super::*;
    use sqlited_proto::v1::value::Kind;

    fn field(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(Error::InvalidArgument { field, .. }) => field,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn statements_and_their_faults() {
        let o = object(br#"{"sql":"SELECT ?, :a","params":[1,"x"]}"#).unwrap();
        let s = statement(&o, "").unwrap();
        assert_eq!(s.params.len(), 2);
        let o = object(br#"{"sql":"SELECT :a","params":{":a":1}}"#).unwrap();
        assert!(statement(&o, "").unwrap().named_params.contains_key("a"));
        assert_eq!(field(object(b"{")), "body");
        assert_eq!(field(object(b"[1]")), "body");
        assert_eq!(field(statement(&object(b"{}").unwrap(), "")), "sql");
        assert_eq!(
            field(statement(&object(br#"{"sql":1}"#).unwrap(), "")),
            "sql"
        );
        assert_eq!(
            field(statement(
                &object(br#"{"sql":"x","param":[]}"#).unwrap(),
                ""
            )),
            "param"
        );
        assert_eq!(
            field(statement(
                &object(br#"{"sql":"x","params":3}"#).unwrap(),
                ""
            )),
            "params"
        );
        assert_eq!(
            field(batch(
                &object(br#"{"statements":[{"sql":"x"},{"sql":"y","params":[[1]]}]}"#).unwrap()
            )),
            "statements[1].params[0]"
        );
        assert_eq!(
            field(statement(
                &object(br#"{"sql":"x","params":{":a":1,"a":2}}"#).unwrap(),
                ""
            )),
            "params[\"a\"]"
        );
    }

    #[test]
    fn a_statement_in_a_query_string() {
        let s = query_statement("q=SELECT+%3F%2C+%3Aa&p=1&p=%22x%22&:a=null").unwrap();
        assert_eq!(s.sql, "SELECT ?, :a");
        assert_eq!(s.params[0].kind, Some(Kind::Integer(1)));
        assert_eq!(s.params[1].kind, Some(Kind::Text("x".into())));
        assert_eq!(s.named_params["a"].kind, None);
        assert_eq!(field(query_statement("p=1")), "q");
        assert_eq!(field(query_statement("q=x&q=y")), "q");
        assert_eq!(field(query_statement("q=x&p=ann")), "params[0]");
        assert_eq!(field(query_statement("q=x&level=strong")), "level");
        assert_eq!(field(query_statement("q=x&:a=1&:a=2")), "params[\":a\"]");
    }

    #[test]
    fn query_strings_are_text() {
        let args = query_args("a=1.5&b=hello+world&c=%C3%A9&d").unwrap();
        assert_eq!(args["a"].kind, Some(Kind::Text("1.5".into())));
        assert_eq!(args["b"].kind, Some(Kind::Text("hello world".into())));
        assert_eq!(args["c"].kind, Some(Kind::Text("é".into())));
        assert_eq!(args["d"].kind, Some(Kind::Text(String::new())));
        assert_eq!(field(query_args("a=1&a=2")), "args.a");
        assert_eq!(field(query_args("a=%FF")), "args.a");
    }
}
