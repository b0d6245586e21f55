//! Database names: `[A-Za-z0-9_-]{1,64}`, so a name can never reach outside the data
//! directory, and the file `<data-dir>/<name>.db` it stands for.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The longest database name.
pub const MAX_LEN: usize = 64;

/// Checks that `name` is a valid database name.
pub fn validate(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "database",
            format!(
                "invalid database name {name:?}: a name is 1 to {MAX_LEN} characters from \
                 A-Z, a-z, 0-9, '_' and '-'"
            ),
        ))
    }
}

/// Refuses a database whose file, WAL or shared-memory file is a symbolic link (or not a
/// regular file): one placed in the data directory could point SQLite anywhere.
pub fn check_not_linked(path: &Path) -> Result<()> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let mut shm = path.as_os_str().to_owned();
    shm.push("-shm");
    for file in [path.to_path_buf(), PathBuf::from(wal), PathBuf::from(shm)] {
        if let Ok(meta) = std::fs::symlink_metadata(&file)
            && !meta.file_type().is_file()
        {
            tracing::warn!(file = %file.display(), "refused: not a regular file");
            return Err(Error::PermissionDenied(format!(
                "{} is a symbolic link or not a regular file; sqlited serves only regular files                  inside its data directory (an operator must replace it)",
                file.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            )));
        }
    }
    Ok(())
}

/// The file of the (valid) database `name`.
pub fn path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join(format!("{name}.db"))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn names() {
        for good in ["app", "A-b_9", &"x".repeat(64)] {
            assert!(validate(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "../etc",
            "a/b",
            "a.db",
            "a b",
            "é",
            &"x".repeat(65),
            "a\0",
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }
}
