//! Request bodies parsed as JSON strictly: a key given twice in one object, at any depth, is
//! refused. serde_json keeps the last value, other parsers (a proxy's, a WAF's) the first,
//! so `{"sql":"SELECT 1","sql":"DROP TABLE t"}` could pass a check in front of the gateway
//! and run something else behind it. Keys are compared once unescaped (`"s\u0071l"` is
//! `"sql"`). Nesting is bounded by serde_json's own recursion limit.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value as Json};

/// `bytes` as one JSON value, every object's keys distinct.
///
/// # Errors
/// serde_json's, for bytes that are not JSON; a data error (`Category::Data`) naming the
/// repeated key and where it is, for a key given twice.
pub fn parse(bytes: &[u8]) -> Result<Json, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Strict { at: Path::Root }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Where a value is in the body, for the error's message: built only when one is needed.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root => Ok(()),
            Self::Key(Self::Root, key) => write!(f, "{key}"),
            Self::Key(parent, key) if is_name(key) => write!(f, "{parent}.{key}"),
            Self::Key(parent, key) => write!(f, "{parent}[{key:?}]"),
            Self::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

fn is_name(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A value at `at`, parsed strictly.
struct Strict<'a> {
    at: Path<'a>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        // JSON has no NaN or infinity, so every parsed f64 is a Number.
        Ok(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(Strict {
            at: Path::Index(&self.at, items.len()),
        })? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                let object_at = match self.at {
                    Path::Root => "the body's object".to_string(),
                    at => format!("the object at {at}"),
                };
                return Err(de::Error::custom(format!(
                    "the key {key:?} is given twice in {object_at}; give each key once \
                     (parsers disagree on which value counts)"
                )));
            }
            let value = map.next_value_seed(Strict {
                at: Path::Key(&self.at, &key),
            })?;
            object.insert(key, value);
        }
        Ok(Json::Object(object))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn refused(text: &str) -> String {
        let err = parse(text.as_bytes()).unwrap_err();
        assert_eq!(err.classify(), serde_json::error::Category::Data, "{text}");
        err.to_string()
    }

    #[test]
    fn keys_given_twice_are_refused_at_every_depth() {
        assert!(refused(r#"{"sql":"SELECT 1","sql":"SELECT 2"}"#).contains("the body's object"));
        assert!(refused(r#"{"sql":"x","s\u0071l":"y"}"#).contains(r#""sql""#));
        let batch = r#"{"statements":[{"sql":"a"},{"sql":"b","params":{":a":1,":a":2}}]}"#;
        assert!(refused(batch).contains("the object at statements[1].params"));
        let typed = r#"{"sql":"?","params":[{"type":"integer","value":"1","value":"2"}]}"#;
        assert!(refused(typed).contains("params[0]"), "{}", refused(typed));
        assert!(refused(r#"{"a":{"b":[[{"c":1,"c":1}]]}}"#).contains("a.b[0][0]"));
    }

    #[test]
    fn the_same_key_in_different_objects_and_every_value_kind_pass() {
        let text = r#"{"a":{"k":1},"b":{"k":[1,-2,3.5,"x",true,null,{"k":{}}]}}"#;
        let strict = parse(text.as_bytes()).unwrap();
        assert_eq!(strict, serde_json::from_str::<Json>(text).unwrap());
        assert!(parse(br#"{"a":1} {"#).is_err(), "trailing bytes");
        assert_eq!(
            parse(br#"18446744073709551615"#).unwrap(),
            Json::from(u64::MAX)
        );
    }
}
