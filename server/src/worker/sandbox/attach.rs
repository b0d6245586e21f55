//! Which files `ATTACH` may name with `--unsafe-sql` (in the sandbox it is refused whole).
//!
//! Only another database of the data directory, by its file `NAME.db` (a valid database
//! name), that exists and is a plain file with a single name; never a new file (every
//! connection has `SQLITE_DBCONFIG_ENABLE_ATTACH_CREATE` off), never one written
//! (`ENABLE_ATTACH_WRITE` off: the attached database is read-only), never a URI, `:memory:`
//! or a temporary database. The name must be a string literal: SQLite shows the authorizer
//! the file name only then, so a bound or computed name is refused.
//!
//! The path is judged as written, not as resolved: its directory must be the data
//! directory's canonical path itself, with no `..` and no symbolic link in any component
//! (each looked at with `lstat`). Resolving first would accept `DATA/link/x.db` for a link
//! that points back into the data directory and judge a different path than SQLite opens.
//!
//! An attached database is read without a role check of its own, so only a request whose
//! token may read every database (a `"*"` grant, or no `--credentials`) of a server with no
//! exposed-only database may attach at all ([`crate::worker::cancel::CancelToken`]'s
//! `may_attach`, decided by the service). And none outlives its request: the connection
//! detaches everything when the request ends ([`super::super::request_state`]).

use std::path::{Component, Path, PathBuf};

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
            "ATTACH may name only databases of the data directory, by their file NAME.db there \
             (an absolute path, or one relative to the server's working directory), existing \
             and read-only: {why}"
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
    if path.components().any(|part| part == Component::ParentDir) {
        return refused("the path may not go through \"..\"");
    }
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
    let Some(path) = absolute(path) else {
        return refused("the server's working directory could not be resolved");
    };
    // The directory as written, not as resolved: a link anywhere on the way (a directory of
    // the data directory that points elsewhere, one to the data directory itself) would make
    // the name say one place and SQLite open another.
    if path.parent() != Some(data_dir) {
        return refused(
            "the file is not directly in the data directory (named by its canonical path, \
             with no symbolic link on the way)",
        );
    }
    if let Some(why) = linked_component(&path) {
        return refused(&why);
    }
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return refused("it is not a regular file"),
        Err(_) => return refused("there is no such database (ATTACH never creates one)"),
    }
    match crate::worker::files::check_database(&path) {
        Ok(()) => None,
        Err(crate::error::Error::PermissionDenied(why)) => refused(&why),
        Err(_) => refused("its files could not be inspected"),
    }
}

/// `path` made absolute, as SQLite resolves it: a relative one from the working directory
/// (the server's own, canonical).
fn absolute(path: &Path) -> Option<PathBuf> {
    if path.is_absolute() {
        return Some(path.components().collect());
    }
    let cwd = std::env::current_dir().ok()?;
    let cwd = std::fs::canonicalize(cwd).ok()?;
    Some(cwd.join(path).components().collect())
}

/// Why `path` is refused for a symbolic link in one of its components (the file's own
/// included), or `None`: each is looked at with `lstat`, which does not follow it.
fn linked_component(path: &Path) -> Option<String> {
    path.ancestors()
        .filter(|part| part.parent().is_some())
        .find(|part| {
            std::fs::symlink_metadata(part).is_ok_and(|meta| meta.file_type().is_symlink())
        })
        .map(|part| {
            let name = part.file_name().unwrap_or_default().to_string_lossy();
            format!("{name:?} on its path is a symbolic link")
        })
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
        let dotted = format!("{}/./other.db", data.display());
        assert_eq!(
            refusal(Some(&dotted), rule),
            None,
            "a \".\" changes nothing"
        );
        std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
        std::fs::write(dir.path().join("elsewhere/x.db"), b"").unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), data.join("away")).unwrap();
        std::os::unix::fs::symlink(&data, data.join("itself")).unwrap();
        for refused in [
            format!("{}/../data/other.db", data.display()),
            at("away/x.db"),
            at("itself/other.db"),
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
        let why = refusal(Some(&at("away/x.db")), rule).unwrap();
        assert!(
            why.starts_with("ATTACH may name only databases of the data directory"),
            "{why}"
        );
        assert!(refusal(None, rule).is_some(), "a bound file name");
        let forbidden = AttachRule {
            allowed: false,
            ..rule
        };
        assert!(refusal(Some(&at("other.db")), forbidden).is_some());
    }
}
