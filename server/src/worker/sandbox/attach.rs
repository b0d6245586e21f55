//! Which files `ATTACH` may name with `--unsafe-sql` (in the sandbox it is refused whole).
//!
//! Only another database of the data directory, by its file `NAME.db` (a valid database
//! name), that exists and is a plain file with a single name; never a new file (every
//! connection has `SQLITE_DBCONFIG_ENABLE_ATTACH_CREATE` off), never one written
//! (`ENABLE_ATTACH_WRITE` off: the attached database is read-only), never a URI, `:memory:`
//! or a temporary database. The name must be a string literal: SQLite shows the authorizer
//! the file name only then, so a bound or computed name is refused.
//!
//! An attached database is read without a role check of its own, so only a request whose
//! token may read every database (a `"*"` grant, or no `--credentials`) of a server with no
//! exposed-only database may attach at all ([`crate::worker::cancel::CancelToken`]'s
//! `may_attach`, decided by the service). And none outlives its request: the connection
//! detaches everything when the request ends ([`super::super::request_state`]).

use std::path::{Path, PathBuf};

/// What the running request may attach.
#[derive(Debug, Clone, Copy)]
pub struct AttachRule<'a> {
    /// The request's token may read every database, and no database is exposed-only.
    pub allowed: bool,
    /// The data directory, canonical (`None`: it could not be resolved, so nothing is).
    pub data_dir: Option<&'a Path>,
}

/// Why `ATTACH filename` is refused, or `None` when it is allowed. `filename` is `None` when
/// the statement does not name the file with a string literal.
pub fn refusal(filename: Option<&str>, rule: AttachRule<'_>) -> Option<String> {
    if !rule.allowed {
        return Some(
            "ATTACH needs a token that may read every database of the server (a \"*\" grant in \
             the credentials file), on a server where no database is exposed-only: an attached \
             database is read without a role check of its own"
                .into(),
        );
    }
    let Some(filename) = filename else {
        return Some(
            "ATTACH must name its file with a string literal ('NAME.db'), so that the server \
             can check it before SQLite opens it"
                .into(),
        );
    };
    let refused = |why: &str| {
        Some(format!(
            "ATTACH may name only an existing database of the data directory, by its file \
             NAME.db (an absolute path, or one relative to the server's working directory), \
             read-only: {why}"
        ))
    };
    if filename.is_empty() || filename.eq_ignore_ascii_case(":memory:") {
        return refused("not a temporary or in-memory database");
    }
    if filename
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("file:"))
    {
        return refused("not a URI");
    }
    let path = Path::new(filename);
    let stem = path
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.strip_suffix(".db"));
    if !stem.is_some_and(crate::name::is_valid) {
        return refused("the file's name is not NAME.db for a valid database name");
    }
    let Some(data_dir) = rule.data_dir else {
        return refused("the data directory could not be resolved");
    };
    if directory_of(path).as_deref() != Some(data_dir) {
        return refused("the file is not in the data directory");
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return refused("it is not a regular file"),
        Err(_) => return refused("there is no such database (ATTACH never creates one)"),
    }
    match crate::worker::files::check_database(path) {
        Ok(()) => None,
        Err(crate::error::Error::PermissionDenied(why)) => Some(why),
        Err(_) => refused("its files could not be inspected"),
    }
}

/// The canonical directory `path` names its file in, resolved as SQLite resolves it (a
/// relative path from the working directory).
fn directory_of(path: &Path) -> Option<PathBuf> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::canonicalize(parent).ok()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn only_existing_databases_of_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let data = std::fs::canonicalize(dir.path()).unwrap().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("other.db"), b"").unwrap();
        std::fs::write(dir.path().join("outside.db"), b"").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.db"), data.join("link.db")).unwrap();
        let rule = AttachRule {
            allowed: true,
            data_dir: Some(&data),
        };
        let at = |name: &str| data.join(name).to_string_lossy().into_owned();
        assert_eq!(refusal(Some(&at("other.db")), rule), None);
        let dotted = format!("{}/../data/other.db", data.display());
        assert_eq!(refusal(Some(&dotted), rule), None);
        for refused in [
            at("missing.db"),
            at("link.db"),
            at("other"),
            at("-x.db"),
            dir.path().join("outside.db").to_string_lossy().into_owned(),
            format!("file:{}", at("other.db")),
            ":memory:".into(),
            String::new(),
            "other.db".into(),
        ] {
            assert!(refusal(Some(&refused), rule).is_some(), "{refused:?}");
        }
        assert!(refusal(None, rule).is_some(), "a bound file name");
        let forbidden = AttachRule {
            allowed: false,
            ..rule
        };
        assert!(refusal(Some(&at("other.db")), forbidden).is_some());
    }
}
