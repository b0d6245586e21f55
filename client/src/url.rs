//! The URLs every client takes, parsed once: a server — `http://HOST[:PORT]`,
//! `https://HOST[:PORT]` for TLS, `HOST[:PORT]` (plaintext), or `unix:/PATH/TO.sock` — and,
//! where a database is opened too, its name and sqlite3's open mode:
//!
//! - `http://HOST[:PORT]/DATABASE[?mode=rwc|rw|ro]`
//! - `unix:/PATH/TO.sock?database=DATABASE[&mode=rwc|rw|ro]` (a socket's path may hold any
//!   `/`, so the database goes in the query)
//!
//! A URL without a port means sqlited's own, [`DEFAULT_PORT`] (the server's `--listen`
//! default), not HTTP's 80 or 443. `mode=` is sqlite3's URI parameter: see [`OpenMode`].

use std::borrow::Cow;

use crate::error::{Error, ErrorKind, Result};

/// The port sqlited listens on by default (`--listen 127.0.0.1:50051`), and so the port of
/// a URL that names none.
pub const DEFAULT_PORT: u16 = 50051;

/// How a database is opened, as sqlite3's URI parameter `mode=` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpenMode {
    /// `mode=rwc`, the default: read and write, and create the database if it is missing
    /// (as `sqlite3.connect()` creates a file). Creating needs the admin role, on a server
    /// without `--no-create`; a token that may not create gets the error at connect.
    #[default]
    ReadWriteCreate,
    /// `mode=rw`: read and write an existing database; a missing one is an error at
    /// connect (NOT_FOUND), and nothing is created.
    ReadWrite,
    /// `mode=ro`: an existing database, read only: a statement that writes fails with
    /// SQLite's "attempt to write a readonly database" (`SQLITE_READONLY`, an
    /// `OperationalError`), transactions are read-only, and batches and map writes are
    /// refused by the client. Exposed statements (`call`) run as the statements file
    /// declares them: the operator's contract, not the SQL's.
    ReadOnly,
}

impl OpenMode {
    /// The mode `text` names: `rwc`, `rw` or `ro`.
    ///
    /// # Errors
    /// `InterfaceError` for anything else (sqlite3's `memory` included: a server's
    /// databases are files).
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "rwc" => Ok(Self::ReadWriteCreate),
            "rw" => Ok(Self::ReadWrite),
            "ro" => Ok(Self::ReadOnly),
            "memory" => Err(interface(
                "mode=memory is not available: a server's databases are files; use mode=rwc, \
                 rw or ro"
                    .into(),
            )),
            other => Err(interface(format!(
                "unknown mode={other:?}: use mode=rwc (create if missing, the default), rw \
                 (must exist) or ro (must exist, read only), as in sqlite3's URIs"
            ))),
        }
    }

    /// Its spelling in a URL: `rwc`, `rw` or `ro`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadWriteCreate => "rwc",
            Self::ReadWrite => "rw",
            Self::ReadOnly => "ro",
        }
    }

    /// Whether opening creates a missing database.
    pub fn creates(self) -> bool {
        self == Self::ReadWriteCreate
    }

    /// Whether the handle refuses writes.
    pub fn is_read_only(self) -> bool {
        self == Self::ReadOnly
    }
}

/// What a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The server: `http://HOST:PORT`, `https://HOST:PORT` or `unix:/PATH`, with the scheme
    /// and the port filled in.
    pub server: String,
    /// The database, if the URL names one.
    pub database: Option<String>,
    /// The open mode (`mode=`; [`OpenMode::ReadWriteCreate`] when not given).
    pub mode: OpenMode,
}

impl Target {
    /// The database, which the URL must name.
    ///
    /// # Errors
    /// `InterfaceError` naming the form to use, when it names none.
    pub fn required_database(&self) -> Result<&str> {
        self.database.as_deref().ok_or_else(|| {
            let form = if self.server.starts_with("unix:") {
                format!("{}?database=<database>", self.server)
            } else {
                format!("{}/<database>", self.server)
            };
            interface(format!("the URL names no database: expected {form}"))
        })
    }
}

/// Parses `url` (see the module's doc).
///
/// # Errors
/// `InterfaceError` saying what to write instead: an unknown scheme or parameter, two
/// database names, no host, a `mode=` without a database, or a SQLite file's name (a client
/// connects to a server, not to a file).
pub fn parse(url: &str) -> Result<Target> {
    if let Some(rest) = url.strip_prefix("unix:") {
        return parse_unix(url, rest);
    }
    if names_a_file(url) {
        return Err(interface(format!(
            "{url:?} is a SQLite file's name, but sqlited's clients connect to a sqlited server: \
             give its URL and a database, http://HOST:PORT/DATABASE (e.g. \
             http://127.0.0.1:{DEFAULT_PORT}/app)"
        )));
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    if !matches!(scheme, "http" | "https") {
        return Err(interface(format!(
            "unknown scheme {scheme}:// in {url:?}: use http://{rest} (or https:// for TLS)"
        )));
    }
    let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (host, path) = address.split_once('/').unwrap_or((address, ""));
    let database = path.trim_end_matches('/');
    if host.is_empty() {
        return Err(interface(format!(
            "the URL {url:?} names no host: try http://127.0.0.1:{DEFAULT_PORT}/{database}"
        )));
    }
    if database.contains('/') {
        return Err(interface(format!(
            "a URL names one database, one word ([A-Za-z0-9_-]) after the address: {database:?} \
             in {url:?}"
        )));
    }
    let database = (!database.is_empty()).then(|| database.to_string());
    let mut mode = None;
    for (key, value) in parameters(query) {
        match key {
            "mode" => mode = Some(OpenMode::parse(value)?),
            _ => {
                return Err(interface(format!(
                    "unknown URL parameter {key:?} in {url:?}: the one known is \
                     mode=rwc|rw|ro"
                )));
            }
        }
    }
    let port = if has_port(host) {
        String::new()
    } else {
        format!(":{DEFAULT_PORT}")
    };
    target(url, format!("{scheme}://{host}{port}"), database, mode)
}

fn parse_unix(url: &str, rest: &str) -> Result<Target> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = path.strip_prefix("//").unwrap_or(path);
    if path.is_empty() {
        return Err(interface(format!(
            "the URL {url:?} names no socket: try unix:/run/sqlited/sqlited.sock?database=app"
        )));
    }
    let (mut database, mut mode) = (None, None);
    for (key, value) in parameters(query) {
        match key {
            "database" if !value.is_empty() && !value.contains('/') => {
                database = Some(value.to_string());
            }
            "mode" => mode = Some(OpenMode::parse(value)?),
            _ => {
                return Err(interface(format!(
                    "the URL {url:?} has an unknown query {query:?}: a unix: URL takes \
                     ?database=NAME and &mode=rwc|rw|ro, e.g. unix:{path}?database=app"
                )));
            }
        }
    }
    target(url, format!("unix:{path}"), database, mode)
}

fn target(
    url: &str,
    server: String,
    database: Option<String>,
    mode: Option<OpenMode>,
) -> Result<Target> {
    if mode.is_some() && database.is_none() {
        return Err(interface(format!(
            "mode= applies to the database a URL opens, and {url:?} names none: name one \
             (http://HOST:PORT/DATABASE?mode=ro, or unix:PATH?database=DATABASE&mode=ro)"
        )));
    }
    Ok(Target {
        server,
        database,
        mode: mode.unwrap_or_default(),
    })
}

/// The server part of `url` with its scheme and port filled in, as the transport connects
/// to it: `127.0.0.1` is `http://127.0.0.1:50051`. A URL that does not parse is returned as
/// it is, for the transport to report.
pub fn with_scheme(url: &str) -> Cow<'_, str> {
    match parse(url) {
        Ok(target) if target.server != url => Cow::Owned(target.server),
        _ => Cow::Borrowed(url),
    }
}

/// `a=1&b=2` → `(a, 1), (b, 2)`; a pair without `=` has an empty value.
fn parameters(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// Whether `host` (`name`, `name:port`, `[v6]`, `[v6]:port`) names its port.
fn has_port(host: &str) -> bool {
    match host.rsplit_once(']') {
        Some((_, after)) => after.starts_with(':'),
        None => host.contains(':'),
    }
}

/// Whether `url` is the sqlite3 reflex, `sqlited-cli app.db`: a name with SQLite's file
/// extensions, or an existing file, where a URL was expected (no scheme, no port: a
/// database name has no dot, so `HOST:PORT/app.db` is left to the server's name check).
pub fn names_a_file(url: &str) -> bool {
    const EXTENSIONS: &[&str] = &[".db", ".sqlite", ".sqlite3", ".db3", ".s3db", ".sl3"];
    if url.contains("://") || url.contains(':') {
        return false;
    }
    let lower = url.to_ascii_lowercase();
    EXTENSIONS.iter().any(|ext| lower.ends_with(ext)) || std::path::Path::new(url).is_file()
}

fn interface(message: String) -> Error {
    Error::new(ErrorKind::Interface, message)
}

#[cfg(test)]
mod test {
    use super::*;

    fn parsed(url: &str) -> (String, Option<String>, OpenMode) {
        let t = parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        (t.server, t.database, t.mode)
    }

    #[test]
    fn servers_databases_and_modes() {
        let rwc = OpenMode::ReadWriteCreate;
        let db = |s: &str| Some(s.to_string());
        assert_eq!(
            parsed("http://h:1/app"),
            ("http://h:1".into(), db("app"), rwc)
        );
        assert_eq!(
            parsed("http://h:1/app/"),
            ("http://h:1".into(), db("app"), rwc)
        );
        assert_eq!(parsed("https://h:1/"), ("https://h:1".into(), None, rwc));
        assert_eq!(parsed("h:1/app"), ("http://h:1".into(), db("app"), rwc));
        assert_eq!(
            parsed("http://h:1/app?mode=ro"),
            ("http://h:1".into(), db("app"), OpenMode::ReadOnly)
        );
        assert_eq!(
            parsed("h:1/app?mode=rw"),
            ("http://h:1".into(), db("app"), OpenMode::ReadWrite)
        );
        assert_eq!(
            parsed("unix:/run/s.sock?database=app&mode=ro"),
            ("unix:/run/s.sock".into(), db("app"), OpenMode::ReadOnly)
        );
        assert_eq!(
            parsed("unix:///run/s.sock?database=app"),
            ("unix:/run/s.sock".into(), db("app"), rwc)
        );
        assert_eq!(
            parsed("unix:/run/s.sock"),
            ("unix:/run/s.sock".into(), None, rwc)
        );
    }

    #[test]
    fn a_url_without_a_port_uses_sqliteds() {
        assert_eq!(parsed("127.0.0.1/app").0, "http://127.0.0.1:50051");
        assert_eq!(parsed("https://db.internal").0, "https://db.internal:50051");
        assert_eq!(parsed("http://[::1]/app").0, "http://[::1]:50051");
        assert_eq!(parsed("http://[::1]:7/app").0, "http://[::1]:7");
        assert_eq!(with_scheme("localhost"), "http://localhost:50051");
        assert_eq!(with_scheme("http://h:1"), "http://h:1");
    }

    #[test]
    fn mistakes_say_what_to_write() {
        for (bad, says) in [
            ("http://h:1/a/b", "one database"),
            ("ftp://h/app", "use http://h/app"),
            ("http:///app", "names no host"),
            ("http://h:1/app?mode=memory", "mode=memory is not available"),
            ("http://h:1/app?mode=rwx", "unknown mode"),
            ("http://h:1/app?cache=shared", "unknown URL parameter"),
            ("http://h:1?mode=ro", "names none"),
            ("unix:/run/s.sock?db=app", "unknown query"),
            ("unix:/run/s.sock?database=", "unknown query"),
            ("unix:?database=app", "names no socket"),
            ("app.db", "SQLite file"),
            ("/tmp/x/app.sqlite3", "SQLite file"),
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Interface, "{bad}");
            assert!(err.message().contains(says), "{bad}: {err}");
        }
        assert!(parse("h:1").unwrap().required_database().is_err());
    }
}
