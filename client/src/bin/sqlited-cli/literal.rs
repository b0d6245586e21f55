//! Values as text, the way sqlite3 writes them: as a result shows them (REAL with
//! `%!.15g`, so `1.0` stays `1.0`), and as SQL literals that read back as the same value
//! (`.dump`, `insert` and `quote` modes).

use std::fmt::Write as _;

use sqlited_client::Value;

/// A REAL as sqlite3 shows it in a result: 15 significant digits, always with a decimal
/// point (`1.0`, `0.3`, `2.5e-07`, `1.0e+300`).
pub fn real_text(r: f64) -> String {
    if r.is_nan() {
        return String::new();
    }
    if r.is_infinite() {
        return if r > 0.0 { "Inf" } else { "-Inf" }.into();
    }
    const PRECISION: i32 = 15;
    let scientific = format!("{:.*e}", (PRECISION - 1) as usize, r);
    let (mantissa, exponent) = scientific.split_once('e').expect("an exponent");
    let exponent: i32 = exponent.parse().expect("a number");
    if !(-4..PRECISION).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{}e{sign}{:02}",
            with_point(mantissa),
            exponent.unsigned_abs()
        )
    } else {
        let decimals = (PRECISION - 1 - exponent).max(0) as usize;
        with_point(&format!("{r:.decimals$}"))
    }
}

/// Trailing zeros dropped, but one digit kept after the point (sqlite3's `!` flag).
fn with_point(digits: &str) -> String {
    if !digits.contains('.') {
        return format!("{digits}.0");
    }
    let trimmed = digits.trim_end_matches('0');
    if trimmed.ends_with('.') {
        format!("{trimmed}0")
    } else {
        trimmed.to_string()
    }
}

/// A REAL as an SQL literal that reads back as the same double: the shortest such text.
/// Infinities are written as sqlite3 writes them (`9.0e+999`), NaN as NULL.
pub fn real_literal(r: f64) -> String {
    if r.is_nan() {
        "NULL".into()
    } else if r.is_infinite() {
        if r > 0.0 { "9.0e+999" } else { "-9.0e+999" }.into()
    } else {
        // Debug is Rust's shortest round-trip form, with a point or an exponent: never
        // read back as an INTEGER.
        format!("{r:?}")
    }
}

/// A blob as `X'00ff'`.
pub fn blob_literal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2 + 3);
    out.push_str("X'");
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out.push('\'');
    out
}

/// A text as an SQL string: quotes doubled.
pub fn text_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A text as `.dump` writes it: like sqlite3, newlines and carriage returns are spelt out
/// with `replace(…, '\n', char(10))`, so every line of a dump is one line of SQL and no
/// reader that drops `\r` can change the value.
pub fn dump_text_literal(text: &str) -> String {
    let has_nl = text.contains('\n');
    let has_cr = text.contains('\r');
    if !has_nl && !has_cr {
        return text_literal(text);
    }
    let nl = unused(text, "\\n", "\\012");
    let cr = unused(text, "\\r", "\\015");
    let mut body = text.replace('\'', "''");
    if has_nl {
        body = body.replace('\n', &nl);
    }
    if has_cr {
        body = body.replace('\r', &cr);
    }
    let mut out = String::new();
    if has_nl {
        out.push_str("replace(");
    }
    if has_cr {
        out.push_str("replace(");
    }
    let _ = write!(out, "'{body}'");
    if has_cr {
        let _ = write!(out, ",'{cr}',char(13))");
    }
    if has_nl {
        let _ = write!(out, ",'{nl}',char(10))");
    }
    out
}

/// The first of `first`, `second`, `second1`, `second2`… that `text` does not contain.
fn unused(text: &str, first: &str, second: &str) -> String {
    if !text.contains(first) {
        return first.into();
    }
    (0..)
        .map(|n| {
            if n == 0 {
                second.to_string()
            } else {
                format!("{second}{n}")
            }
        })
        .find(|candidate| !text.contains(candidate.as_str()))
        .expect("some suffix is unused")
}

/// `value` as an SQL literal (the `quote` and `insert` modes).
pub fn literal(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => real_literal(*r),
        Value::Text(t) => text_literal(t),
        Value::Blob(b) => blob_literal(b),
    }
}

/// `value` as an SQL literal for `.dump`.
pub fn dump_literal(value: &Value) -> String {
    match value {
        Value::Text(t) => dump_text_literal(t),
        other => literal(other),
    }
}

/// `value` as a result shows it; NULL as `null`. Blobs show as `x'cafe'`.
pub fn display(value: &Value, null: &str) -> String {
    match value {
        Value::Null => null.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => real_text(*r),
        Value::Text(t) => t.clone(),
        Value::Blob(b) => {
            let mut hex = blob_literal(b);
            hex.replace_range(0..1, "x");
            hex
        }
    }
}

/// `name` as an identifier: bare when it is a plain word and no keyword, else in quotes.
pub fn identifier(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain && !crate::keywords::is_keyword(name) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn reals_show_as_sqlite3_shows_them() {
        for (r, shown) in [
            (1.0, "1.0"),
            (0.1 + 0.2, "0.3"),
            (2.5e-7, "2.5e-07"),
            (1e300, "1.0e+300"),
            (100.0, "100.0"),
            (-0.5, "-0.5"),
            (std::f64::consts::PI, "3.14159265358979"),
            (123456789012345.0, "123456789012345.0"),
            (1e15, "1.0e+15"),
            (0.0001, "0.0001"),
        ] {
            assert_eq!(real_text(r), shown, "{r}");
        }
    }

    #[test]
    fn literals_read_back() {
        for r in [0.1 + 0.2, 1.0, 1e300, 2.5e-7, -0.0, 1e16, f64::MIN_POSITIVE] {
            let text = real_literal(r);
            assert!(text.contains(['.', 'e']), "{text}");
            assert_eq!(
                text.parse::<f64>().unwrap().to_bits(),
                r.to_bits(),
                "{text}"
            );
        }
        assert_eq!(text_literal("it's"), "'it''s'");
        assert_eq!(
            dump_text_literal("it's\nmulti"),
            "replace('it''s\\nmulti','\\n',char(10))"
        );
        assert_eq!(
            dump_text_literal("a\\nb\r\nc"),
            "replace(replace('a\\nb\\r\\012c','\\r',char(13)),'\\012',char(10))"
        );
        assert_eq!(blob_literal(&[0, 255]), "X'00ff'");
        assert_eq!(identifier("table"), "\"table\"");
        assert_eq!(identifier("t1"), "t1");
        assert_eq!(identifier("a b"), "\"a b\"");
    }
}
