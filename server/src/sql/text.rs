//! What little of a SQL text the server reads itself, before SQLite does: where its first
//! word starts, and whether it holds anything at all.

/// `sql` after its leading white space and comments (and semicolons, if `semicolons`).
pub fn skip_blank(mut sql: &str, semicolons: bool) -> &str {
    loop {
        sql = sql.trim_start_matches(|c: char| c.is_whitespace() || (semicolons && c == ';'));
        if let Some(rest) = sql.strip_prefix("--") {
            sql = rest.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(rest) = sql.strip_prefix("/*") {
            sql = rest.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return sql;
        }
    }
}

/// The first word of `sql` (its letters), after white space and comments: `PRAGMA` in
/// `/*r*/ pragma index_info(i)`.
pub fn first_word(sql: &str) -> &str {
    let rest = skip_blank(sql, false);
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    &rest[..end]
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn words_and_blanks() {
        assert_eq!(first_word("/*r*/PRAGMA index_info(x)"), "PRAGMA");
        assert_eq!(first_word("  -- c\n pragma table_info(t)"), "pragma");
        assert_eq!(first_word("/*r*/PRAGMAS"), "PRAGMAS");
        assert_eq!(first_word("SELECT 'PRAGMA'"), "SELECT");
        assert_eq!(first_word("/* never closed"), "");
        assert_eq!(skip_blank(" ; -- x\n ;/* */", true), "");
        assert_eq!(skip_blank(" ; SELECT", false), "; SELECT");
    }
}
