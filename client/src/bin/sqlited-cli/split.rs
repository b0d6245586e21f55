//! Where statements end: at a semicolon outside quotes and comments — and, in
//! `CREATE TRIGGER … BEGIN … END`, only after the `END` (the body holds semicolons), as
//! SQLite's own `sqlite3_complete` decides.

/// Splits `sql` into complete statements (each with its semicolon) and the incomplete rest.
pub fn split(sql: &str) -> (Vec<String>, String) {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut start = 0;
    let mut i = 0;
    // Words of the current statement so far (upper-cased, first few), and trigger state.
    let mut words: Vec<String> = Vec::new();
    let mut in_trigger_body = false;
    let mut last_word = String::new();
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' | b'"' | b'`' | b'[' => {
                let close = if c == b'[' { b']' } else { c };
                i += 1;
                while i < bytes.len() && bytes[i] != close {
                    i += 1;
                }
                last_word.clear();
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b';' => {
                let is_trigger = words.len() >= 2
                    && words[0] == "CREATE"
                    && (words[1] == "TRIGGER" || (words.len() >= 3 && words[2] == "TRIGGER"));
                let ends = !is_trigger || (in_trigger_body && last_word == "END");
                if ends {
                    let statement = sql[start..=i].trim();
                    if !statement
                        .trim_matches(|c: char| c == ';' || c.is_whitespace())
                        .is_empty()
                    {
                        statements.push(statement.to_string());
                    }
                    start = i + 1;
                    words.clear();
                    in_trigger_body = false;
                }
                last_word.clear();
            }
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                let begin = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = sql[begin..i].to_ascii_uppercase();
                if word == "BEGIN" && words.first().is_some_and(|w| w == "CREATE") {
                    in_trigger_body = true;
                }
                if words.len() < 3 {
                    words.push(word.clone());
                }
                last_word = word;
                continue;
            }
            c if c.is_ascii_whitespace() => {}
            _ => last_word.clear(),
        }
        i += 1;
    }
    (statements, sql[start.min(sql.len())..].to_string())
}

#[cfg(test)]
mod test {
    use super::split;

    #[test]
    fn splits_where_sqlite_would() {
        let (done, rest) = split("SELECT 1; SELECT ';'; SELECT 2");
        assert_eq!(done, ["SELECT 1;", "SELECT ';';"]);
        assert_eq!(rest.trim(), "SELECT 2");
        let trigger = "CREATE TRIGGER t AFTER INSERT ON x BEGIN UPDATE y SET n = n + 1; END;";
        assert_eq!(split(trigger).0, [trigger]);
        let (done, rest) = split("CREATE TEMP TRIGGER t AFTER INSERT ON x BEGIN SELECT 1;");
        assert!(done.is_empty());
        assert!(!rest.is_empty());
        assert_eq!(split("-- only ; a comment\n").0.len(), 0);
        assert_eq!(
            split("/* ; */ SELECT 1 /* ; */;").0,
            ["/* ; */ SELECT 1 /* ; */;"]
        );
        assert_eq!(split(";;").0.len(), 0);
        assert_eq!(split("SELECT \"a;b\" FROM [x;y];").0.len(), 1);
    }
}
