//! Content negotiation: the `Accept` header (RFC 9110 §12.5.1, with q-values and
//! wildcards) against what an endpoint can produce. Rows (`query`, `call/{name}`) come as
//! JSON, NDJSON or CSV; every other endpoint answers JSON only, and a request whose
//! `Accept` excludes what the endpoint produces is answered 406, before anything runs —
//! never JSON when JSON was not accepted.
//!
//! The choice: the format with the highest q; on a tie, one the header names exactly beats
//! one only a wildcard matches (`Accept: text/csv, */*` is CSV), then JSON, NDJSON, CSV in
//! that order. No `Accept` header, or an empty one, is `*/*`.

/// A format an answer can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    NdJson,
    Csv,
}

impl Format {
    /// The media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::NdJson => "application/x-ndjson",
            Self::Csv => "text/csv",
        }
    }
}

/// What endpoints that return rows produce.
pub const ROWS: &[Format] = &[Format::Json, Format::NdJson, Format::Csv];
/// What every other endpoint produces.
pub const JSON: &[Format] = &[Format::Json];

/// One media range of the header: type, subtype, q.
struct Range<'a> {
    kind: &'a str,
    subtype: &'a str,
    q: f32,
}

fn ranges(accept: &str) -> Vec<Range<'_>> {
    accept
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let media = pieces.next()?.trim();
            let (kind, subtype) = media.split_once('/')?;
            let mut q = 1.0;
            for parameter in pieces {
                if let Some((name, value)) = parameter.split_once('=')
                    && name.trim().eq_ignore_ascii_case("q")
                {
                    q = value.trim().parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0);
                }
            }
            Some(Range {
                kind: kind.trim(),
                subtype: subtype.trim(),
                q,
            })
        })
        .collect()
}

/// The format to answer in, of `offered` (in the server's order of preference), for the
/// header `accept`; `None` when the header accepts none of them (a 406).
pub fn negotiate(accept: Option<&str>, offered: &[Format]) -> Option<Format> {
    let accept = accept.map(str::trim).filter(|a| !a.is_empty());
    let Some(accept) = accept else {
        return offered.first().copied();
    };
    let ranges = ranges(accept);
    let mut best: Option<(f32, u8, usize, Format)> = None;
    for (order, format) in offered.iter().enumerate() {
        let (kind, subtype) = format
            .media_type()
            .split_once('/')
            .expect("a media type has a slash");
        // The most specific range that matches decides the format's q (RFC 9110).
        let matched = ranges
            .iter()
            .filter_map(|r| {
                let specificity = if r.kind.eq_ignore_ascii_case(kind)
                    && r.subtype.eq_ignore_ascii_case(subtype)
                {
                    2
                } else if r.kind.eq_ignore_ascii_case(kind) && r.subtype == "*" {
                    1
                } else if r.kind == "*" && r.subtype == "*" {
                    0
                } else {
                    return None;
                };
                Some((specificity, r.q))
            })
            .max_by_key(|(specificity, _)| *specificity);
        let Some((specificity, q)) = matched else {
            continue;
        };
        if q <= 0.0 {
            continue;
        }
        let exact = u8::from(specificity == 2);
        let better = match best {
            None => true,
            Some((best_q, best_exact, _, _)) => q > best_q || (q == best_q && exact > best_exact),
        };
        if better {
            best = Some((q, exact, order, *format));
        }
    }
    best.map(|(_, _, _, format)| format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Format::*;

    #[test]
    fn the_header_decides_with_q_values_and_wildcards() {
        assert_eq!(negotiate(None, ROWS), Some(Json));
        assert_eq!(negotiate(Some(""), ROWS), Some(Json));
        assert_eq!(negotiate(Some("*/*"), ROWS), Some(Json));
        assert_eq!(negotiate(Some("text/csv"), ROWS), Some(Csv));
        assert_eq!(negotiate(Some("text/*"), ROWS), Some(Csv));
        assert_eq!(negotiate(Some("application/x-ndjson"), ROWS), Some(NdJson));
        assert_eq!(negotiate(Some("text/csv, */*;q=0.1"), ROWS), Some(Csv));
        assert_eq!(negotiate(Some("text/csv, */*"), ROWS), Some(Csv));
        assert_eq!(
            negotiate(Some("application/json;q=0.5, text/csv;q=0.9"), ROWS),
            Some(Csv)
        );
        assert_eq!(
            negotiate(Some("text/csv;q=0.2, application/json"), ROWS),
            Some(Json)
        );
        assert_eq!(negotiate(Some("text/csv;charset=utf-8"), ROWS), Some(Csv));
        assert_eq!(
            negotiate(Some("*/*, application/json;q=0"), ROWS),
            Some(NdJson)
        );
        assert_eq!(negotiate(Some("text/html"), ROWS), None);
        assert_eq!(negotiate(Some("text/csv"), JSON), None);
        assert_eq!(negotiate(Some("text/csv, */*;q=0.1"), JSON), Some(Json));
        assert_eq!(negotiate(Some("application/*"), JSON), Some(Json));
        assert_eq!(negotiate(Some("*/*;q=0"), JSON), None);
    }
}
