//! The shell's URL — the library's ([`sqlited_client::url`]): `http://HOST[:PORT][/DATABASE]`
//! (or `https://`, or `unix:/PATH/TO.sock[?database=DATABASE]`), with `?mode=rwc|rw|ro` —
//! and connection errors rewritten to say what to do.

use sqlited_client::OpenMode;
use sqlited_client::url::DEFAULT_PORT;

/// The server, the database (a URL naming none opens none) and its open mode.
pub fn parse(url: &str) -> Result<(String, Option<String>, OpenMode), String> {
    match sqlited_client::url::parse(url) {
        Ok(target) => Ok((target.server, target.database, target.mode)),
        Err(err) if sqlited_client::url::names_a_file(url) => Err(format!(
            "{}; to load a SQLite file into a database: sqlite3 {url} .dump | sqlited-cli \
             http://127.0.0.1:{DEFAULT_PORT}/app",
            err.message()
        )),
        Err(err) => Err(err.message().to_string()),
    }
}

/// `.open`'s argument: `NAME`, `NAME?mode=rwc|rw|ro`, after sqlite3's `--readonly`.
pub fn parse_open(args: &[String]) -> Result<(String, OpenMode), String> {
    const USAGE: &str = "usage: .open [--readonly] NAME[?mode=rwc|rw|ro]";
    let mut mode = OpenMode::ReadWriteCreate;
    let mut name = None;
    for arg in args {
        match arg.as_str() {
            "--readonly" | "-readonly" => mode = OpenMode::ReadOnly,
            option if option.starts_with('-') => {
                return Err(format!("unknown option {option} of .open: {USAGE}"));
            }
            _ if name.is_some() => return Err(USAGE.into()),
            given => name = Some(given),
        }
    }
    let name = name.ok_or(USAGE)?;
    let (name, query) = name.split_once('?').unwrap_or((name, ""));
    if !query.is_empty() {
        let Some(given) = query.strip_prefix("mode=") else {
            return Err(format!("unknown parameter {query:?} of .open: {USAGE}"));
        };
        mode = OpenMode::parse(given).map_err(|err| err.message().to_string())?;
    }
    if name.is_empty() {
        return Err(USAGE.into());
    }
    Ok((name.to_string(), mode))
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
    } else if message.contains("dns error") || message.contains("failed to lookup address") {
        let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
        format!(
            "no host {host:?} (its name does not resolve): sqlited-cli connects to a sqlited \
             server; give its URL and a database, http://HOST:PORT/DATABASE (e.g. \
             http://127.0.0.1:{DEFAULT_PORT}/app)"
        )
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
            (
                "http://h:1".into(),
                Some("app".into()),
                OpenMode::ReadWriteCreate
            )
        );
        assert_eq!(
            parse("127.0.0.1/app?mode=ro").unwrap(),
            (
                "http://127.0.0.1:50051".into(),
                Some("app".into()),
                OpenMode::ReadOnly
            )
        );
        let file = parse("app.db").unwrap_err();
        assert!(file.contains("connect to a sqlited server"), "{file}");
        assert!(
            file.contains("sqlite3 app.db .dump | sqlited-cli"),
            "{file}"
        );
    }

    #[test]
    fn open_arguments() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_open(&args(&["app"])).unwrap(),
            ("app".into(), OpenMode::ReadWriteCreate)
        );
        assert_eq!(
            parse_open(&args(&["--readonly", "app"])).unwrap(),
            ("app".into(), OpenMode::ReadOnly)
        );
        assert_eq!(
            parse_open(&args(&["app?mode=rw"])).unwrap(),
            ("app".into(), OpenMode::ReadWrite)
        );
        for bad in [
            &[][..],
            &["--new", "app"],
            &["a", "b"],
            &["app?cache=1"],
            &["?mode=ro"],
        ] {
            assert!(parse_open(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
