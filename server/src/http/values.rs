//! SQLite values as JSON, losslessly.
//!
//! Out: NULL is `null`, TEXT a JSON string, an INTEGER within ±(2^53−1) a JSON number, a
//! finite REAL other than −0.0 a JSON number written with a fraction or an exponent (`1.0`,
//! `1e300`), so parsers that tell integers from floats read it back as a float. Everything a
//! JSON number cannot carry exactly is a typed object:
//! `{"type":"integer","value":"9007199254740993"}`,
//! `{"type":"real","value":"-0.0"}` (or `"inf"`, `"-inf"`, `"nan"`),
//! `{"type":"blob","base64":"AAE="}` (standard alphabet, padded).
//!
//! In: the same, plus `true`/`false` (the integers 1 and 0, SQLite has no booleans), a JSON
//! integer of any size SQLite holds, typed objects `{"type":"text","value":"…"}` and
//! `{"type":"null"}`, and typed values whose `value` is a JSON number. A JSON number with a
//! fraction or an exponent is a REAL, one without is an INTEGER.

use base64::Engine as _;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value as Json;
use sqlited_proto::v1::value::Kind;
use sqlited_proto::v1::{Row, Value};

use crate::error::{Error, Result};

/// The largest integer every JSON reader holds exactly (JavaScript's `MAX_SAFE_INTEGER`).
pub const MAX_EXACT: i64 = (1 << 53) - 1;

/// Base64 as written (padded) and read (padding optional).
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// A value, serialized in the encoding above.
pub struct Out<'a>(pub &'a Value);

impl Serialize for Out<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0.kind {
            None | Some(Kind::Null(_)) => s.serialize_unit(),
            Some(Kind::Integer(i)) if (-MAX_EXACT..=MAX_EXACT).contains(i) => s.serialize_i64(*i),
            Some(Kind::Integer(i)) => typed(s, "integer", "value", &i.to_string()),
            Some(Kind::Real(r)) if r.is_finite() && !(*r == 0.0 && r.is_sign_negative()) => {
                s.serialize_f64(*r)
            }
            Some(Kind::Real(r)) => typed(s, "real", "value", special_real(*r)),
            Some(Kind::Text(t)) => s.serialize_str(t),
            Some(Kind::Blob(b)) => typed(s, "blob", "base64", &BASE64.encode(b)),
        }
    }
}

/// The text of a REAL no JSON number carries.
fn special_real(r: f64) -> &'static str {
    if r.is_nan() {
        "nan"
    } else if r == f64::INFINITY {
        "inf"
    } else if r == f64::NEG_INFINITY {
        "-inf"
    } else {
        "-0.0"
    }
}

fn typed<S: Serializer>(s: S, kind: &str, key: &str, value: &str) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(2))?;
    map.serialize_entry("type", kind)?;
    map.serialize_entry(key, value)?;
    map.end()
}

/// A row's values as a JSON array.
pub struct OutRow<'a>(pub &'a Row);

impl Serialize for OutRow<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.values.len()))?;
        for value in &self.0.values {
            seq.serialize_element(&Out(value))?;
        }
        seq.end()
    }
}

/// The JSON of one value (for small answers built as `serde_json::Value`).
pub fn to_json(value: &Value) -> Json {
    serde_json::to_value(Out(value)).unwrap_or(Json::Null)
}

fn kind(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

/// The value `json` stands for; `field` names it in the error.
pub fn from_json(json: &Json, field: &str) -> Result<Value> {
    Ok(match json {
        Json::Null => Value { kind: None },
        Json::Bool(b) => kind(Kind::Integer(i64::from(*b))),
        Json::Number(n) => number(n, field)?,
        Json::String(t) => kind(Kind::Text(t.clone())),
        Json::Array(_) => {
            return Err(Error::invalid(
                field,
                "an array is not a value: give null, a number, a string, true/false or a typed \
                 value such as {\"type\":\"blob\",\"base64\":\"…\"}",
            ));
        }
        Json::Object(object) => typed_value(object, field)?,
    })
}

fn number(n: &serde_json::Number, field: &str) -> Result<Value> {
    if let Some(i) = n.as_i64() {
        return Ok(kind(Kind::Integer(i)));
    }
    if n.is_u64() {
        return Err(Error::invalid(
            field,
            format!(
                "{n} is larger than SQLite's largest integer ({}); send a real such as {n}.0 \
                 if an approximation will do",
                i64::MAX
            ),
        ));
    }
    match n.as_f64() {
        Some(r) => Ok(kind(Kind::Real(r))),
        None => Err(Error::invalid(
            field,
            format!("{n} is not a number SQLite holds"),
        )),
    }
}

/// `{"type": …}`.
fn typed_value(object: &serde_json::Map<String, Json>, field: &str) -> Result<Value> {
    let Some(Json::String(name)) = object.get("type") else {
        return Err(Error::invalid(
            field,
            "an object value needs \"type\": one of null, integer, real, text, blob",
        ));
    };
    let payload = match name.as_str() {
        "null" => None,
        "blob" => Some("base64"),
        "integer" | "real" | "text" => Some("value"),
        other => {
            return Err(Error::invalid(
                field,
                format!("unknown value type {other:?}: use null, integer, real, text or blob"),
            ));
        }
    };
    if let Some(extra) = object
        .keys()
        .find(|k| k.as_str() != "type" && Some(k.as_str()) != payload)
    {
        return Err(Error::invalid(
            format!("{field}.{extra}"),
            format!(
                "a {name} value has no field {extra:?}{}",
                payload.map_or(String::new(), |p| format!("; it takes {p:?}"))
            ),
        ));
    }
    let Some(payload) = payload else {
        return Ok(Value { kind: None });
    };
    let inner = format!("{field}.{payload}");
    let Some(given) = object.get(payload) else {
        return Err(Error::invalid(
            inner,
            format!("a {name} value needs {payload:?}"),
        ));
    };
    match (name.as_str(), given) {
        ("integer", Json::String(text)) => text.trim().parse().map(|i| kind(Kind::Integer(i))).map_err(|_| {
            Error::invalid(
                inner,
                format!(
                    "{text:?} is not a 64-bit integer (decimal digits, optional sign, {} to {})",
                    i64::MIN,
                    i64::MAX
                ),
            )
        }),
        ("integer", Json::Number(n)) if n.as_i64().is_some() => number(n, &inner),
        ("real", Json::String(text)) => parse_real(text)
            .map(|r| kind(Kind::Real(r)))
            .ok_or_else(|| {
                Error::invalid(
                    inner,
                    format!("{text:?} is not a real: give a decimal number, \"inf\", \"-inf\" or \"nan\""),
                )
            }),
        ("real", Json::Number(n)) => Ok(kind(Kind::Real(n.as_f64().unwrap_or(f64::NAN)))),
        ("text", Json::String(text)) => Ok(kind(Kind::Text(text.clone()))),
        ("blob", Json::String(text)) => BASE64.decode(text).map(|b| kind(Kind::Blob(b))).map_err(|err| {
            Error::invalid(inner, format!("not standard base64 (A–Z a–z 0–9 + /): {err}"))
        }),
        _ => Err(Error::invalid(
            inner,
            format!(
                "a {name} value's {payload:?} must be {}",
                match name.as_str() {
                    "integer" => "a string of decimal digits (or an integer)",
                    "real" => "a string or a number",
                    _ => "a string",
                }
            ),
        )),
    }
}

/// A REAL from its text: decimal, exponent, or inf/-inf/nan (`infinity` too).
fn parse_real(text: &str) -> Option<f64> {
    let text = text.trim();
    match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ if text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
        {
            text.parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn round_trip(value: Value) -> Value {
        let text = serde_json::to_string(&Out(&value)).expect("serializes");
        let json: Json = serde_json::from_str(&text).expect("parses");
        from_json(&json, "v").expect("decodes")
    }

    fn same(a: &Value, b: &Value) -> bool {
        match (&a.kind, &b.kind) {
            (Some(Kind::Real(x)), Some(Kind::Real(y))) => {
                x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
            }
            (None | Some(Kind::Null(_)), None | Some(Kind::Null(_))) => true,
            (x, y) => x == y,
        }
    }

    #[test]
    fn every_value_survives() {
        let values = [
            Value { kind: None },
            kind(Kind::Integer(0)),
            kind(Kind::Integer(i64::MIN)),
            kind(Kind::Integer(i64::MAX)),
            kind(Kind::Integer(MAX_EXACT)),
            kind(Kind::Integer(MAX_EXACT + 1)),
            kind(Kind::Integer(-MAX_EXACT - 1)),
            kind(Kind::Real(0.0)),
            kind(Kind::Real(-0.0)),
            kind(Kind::Real(1.0)),
            kind(Kind::Real(0.1)),
            kind(Kind::Real(f64::MAX)),
            kind(Kind::Real(f64::MIN_POSITIVE)),
            kind(Kind::Real(5e-324)),
            kind(Kind::Real(f64::INFINITY)),
            kind(Kind::Real(f64::NEG_INFINITY)),
            kind(Kind::Real(f64::NAN)),
            kind(Kind::Text(String::new())),
            kind(Kind::Text("é\u{0}\"\\\n😀".into())),
            kind(Kind::Blob(Vec::new())),
            kind(Kind::Blob((0..=255).collect())),
        ];
        for value in values {
            let back = round_trip(value.clone());
            assert!(same(&value, &back), "{value:?} came back as {back:?}");
        }
    }

    #[test]
    fn plain_where_exact_typed_elsewhere() {
        let text = |v: Value| serde_json::to_string(&Out(&v)).unwrap();
        assert_eq!(text(kind(Kind::Integer(42))), "42");
        assert_eq!(
            text(kind(Kind::Integer(i64::MAX))),
            r#"{"type":"integer","value":"9223372036854775807"}"#
        );
        assert_eq!(text(kind(Kind::Real(1.0))), "1.0");
        assert_eq!(
            text(kind(Kind::Real(-0.0))),
            r#"{"type":"real","value":"-0.0"}"#
        );
        assert_eq!(
            text(kind(Kind::Blob(vec![0, 1]))),
            r#"{"type":"blob","base64":"AAE="}"#
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        let bad = |s: &str| match from_json(&serde_json::from_str(s).unwrap(), "params[1]") {
            Err(Error::InvalidArgument { field, .. }) => field,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(bad("[1]"), "params[1]");
        assert_eq!(bad("18446744073709551615"), "params[1]");
        assert_eq!(bad(r#"{"type":"blob","base64":"!!"}"#), "params[1].base64");
        assert_eq!(
            bad(r#"{"type":"integer","value":"9223372036854775808"}"#),
            "params[1].value"
        );
        assert_eq!(bad(r#"{"type":"integer","vlaue":"1"}"#), "params[1].vlaue");
        assert_eq!(bad(r#"{"type":"date"}"#), "params[1]");
        assert_eq!(bad(r#"{"value":1}"#), "params[1]");
        assert_eq!(bad(r#"{"type":"real","value":"one"}"#), "params[1].value");
    }
}
