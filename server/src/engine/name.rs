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
