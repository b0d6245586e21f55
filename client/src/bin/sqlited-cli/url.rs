//! The shell's URL, `http://HOST:PORT[/DATABASE]` (or `https://`, or
//! `unix:/PATH/TO.sock[?database=DATABASE]`), and connection errors rewritten to say what
//! to do.

/// The server part and the database of `url`. A URL naming no database opens none; one
/// naming no scheme (`127.0.0.1:50051/app`) is plaintext `http://`, as everywhere.
pub fn parse(url: &str) -> Result<(String, Option<String>), String> {
    if let Some(parts) = sqlited_client::transport::split_unix(url) {
        return parts;
    }
    let url = &*sqlited_client::transport::with_scheme(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("missing scheme: try http://{url}"));
    };
    if !matches!(scheme, "http" | "https") {
        return Err(format!(
            "unknown scheme {scheme}://: use http://{rest} (or https:// for TLS)"
        ));
    }
    let (host, database) = match rest.split_once('/') {
        Some((host, path)) => (host, path.trim_end_matches('/')),
        None => (rest, ""),
    };
    if host.is_empty() {
        return Err(format!(
            "the URL names no host: try http://127.0.0.1:50051/{database}"
        ));
    }
    if database.contains('/') {
        return Err(format!(
            "a database name is one word ([A-Za-z0-9_-]): {database:?} in {url}"
        ));
    }
    let database = (!database.is_empty()).then(|| database.to_string());
    Ok((format!("{scheme}://{host}"), database))
}

/// What to tell the user when connecting to `server` failed with `message`.
pub fn explain(server: &str, message: &str) -> String {
    let address = server.split_once("://").map_or(server, |(_, a)| a);
    if let Some(path) = server.strip_prefix("unix:") {
        if message.contains("No such file") {
            return format!("no sqlited at {server} (no such socket): is the server running?");
        }
        if message.contains("Connection refused") {
            return format!(
                "no sqlited at {server} (a stale socket: connection refused): is the server running?"
            );
        }
        if message.contains("Permission denied") {
            return format!(
                "cannot connect to {server}: permission denied; the socket's mode (the server's \
                 --unix-socket-mode) and its directory decide who may connect to {path}"
            );
        }
    }
    if message.contains("Connection refused") {
        format!("no sqlited at {address} (connection refused): is the server running?")
    } else if server.starts_with("https://")
        && (message.contains("corrupt message") || message.contains("InvalidContentType"))
    {
        format!("the server is not using TLS: use http://{address}")
    } else {
        message.to_string()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse("http://h:1/app").unwrap(),
            ("http://h:1".into(), Some("app".into()))
        );
        assert_eq!(parse("https://h:1/").unwrap(), ("https://h:1".into(), None));
        assert_eq!(parse("http://h:1").unwrap(), ("http://h:1".into(), None));
        assert_eq!(
            parse("127.0.0.1:50551/app").unwrap(),
            ("http://127.0.0.1:50551".into(), Some("app".into()))
        );
        assert!(parse("ftp://h/app").is_err());
        assert_eq!(
            parse("unix:/run/s.sock?database=app").unwrap(),
            ("unix:/run/s.sock".into(), Some("app".into()))
        );
        assert_eq!(
            parse("unix:///run/s.sock").unwrap(),
            ("unix:/run/s.sock".into(), None)
        );
        assert!(parse("unix:/run/s.sock?db=app").is_err());
        assert!(parse("unix:?database=app").is_err());
        assert!(parse("http://h:1/a/b").is_err());
    }
}
