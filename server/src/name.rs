//! Database and map names: `[A-Za-z0-9_-]{1,64}` not starting with `-`, so a name can never
//! reach outside the data directory nor read as an option to a tool an operator runs on its
//! file (`sqlite3 -rf.db`, `rm --help.db`); and the file `<data-dir>/<name>.db` it stands for.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The longest database name.
pub const MAX_LEN: usize = 64;

/// The rule, for messages.
pub const RULE: &str = "a name is 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-', and does \
                        not start with '-'";

/// Whether `name` follows the rule of database (and map) names.
pub fn is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LEN
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks that `name` is a valid database name.
pub fn validate(name: &str) -> Result<()> {
    if is_valid(name) {
        Ok(())
    } else {
        Err(Error::invalid(
            "database",
            format!("invalid database name {name:?}: {RULE}"),
        ))
    }
}

/// Checks that `name` is a valid map name (the same rule; the map is the table `kv_<name>`).
pub fn validate_map(name: &str) -> Result<()> {
    if is_valid(name) {
        Ok(())
    } else {
        Err(Error::invalid(
            "map.map",
            format!("invalid map name {name:?}: {RULE}"),
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
        for good in ["app", "A-b_9", "a-", "_-x", &"x".repeat(64)] {
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
            "-rf",
            "--help",
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }
}
