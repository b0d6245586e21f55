//! The files a connection may open: a database file, its `-wal` and its `-shm`, each a
//! regular file with exactly one link, checked every time a connection opens (not once per
//! database), so a symbolic or hard link planted in the data directory later is refused by
//! the next reader, restarted worker or reopened writer too.
//!
//! SQLite itself opens every file with `O_NOFOLLOW`, and `SQLITE_OPEN_NOFOLLOW` makes it
//! refuse a database path that resolves through a symbolic link; what neither sees is a hard
//! link (a second name for a file outside the data directory), hence the link count.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The database file and the two SQLite keeps beside it in WAL mode.
pub fn database_files(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_path_buf(), with("-wal"), with("-shm")]
}

/// Refuses the database at `path` if its file, WAL or shared-memory file exists and is a
/// symbolic link, not a regular file, or a file with more than one name.
pub fn check_database(path: &Path) -> Result<()> {
    for file in database_files(path) {
        check_file(&file)?;
    }
    Ok(())
}

/// Refuses `file` if it exists and is not a regular file with a single link.
pub fn check_file(file: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(file) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => {
            return Err(Error::Internal(format!(
                "cannot inspect {}: {err}",
                file.display()
            )));
        }
    };
    let problem = if meta.file_type().is_symlink() {
        "a symbolic link"
    } else if !meta.file_type().is_file() {
        "not a regular file"
    } else if meta.nlink() > 1 {
        "a hard link (the file has another name, maybe outside the data directory)"
    } else {
        return Ok(());
    };
    Err(Error::PermissionDenied(format!(
        "{} is {problem}; sqlited opens only regular files with a single name inside its data \
         directory (an operator must replace it with a plain copy)",
        file.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    )))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn links_are_refused_and_plain_files_pass() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        assert!(check_database(&db).is_ok(), "missing files are fine");
        std::fs::write(&db, b"").unwrap();
        assert!(check_database(&db).is_ok());

        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"").unwrap();
        std::fs::hard_link(&outside, dir.path().join("a.db-wal")).unwrap();
        assert!(check_database(&db).is_err(), "a hard-linked WAL");
        std::fs::remove_file(dir.path().join("a.db-wal")).unwrap();

        std::os::unix::fs::symlink(&outside, dir.path().join("a.db-shm")).unwrap();
        assert!(check_database(&db).is_err(), "a symlinked SHM");
        std::fs::remove_file(dir.path().join("a.db-shm")).unwrap();

        let linked = dir.path().join("b.db");
        std::fs::hard_link(&outside, &linked).unwrap();
        assert!(check_database(&linked).is_err(), "a hard-linked database");
    }
}
