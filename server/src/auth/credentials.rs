//! The credentials file (`--credentials`, TOML), read at start and again on SIGHUP.
//!
//! ```toml
//! [[token]]
//! name = "app"                  # shown in logs; never the token itself
//! sha256 = "<64 hex digits>"    # from `sqlited token new` or `sqlited token hash`
//! roles = { app = "write", "reports_*" = "read" }
//! requests_per_second = 500     # optional
//! ```
//!
//! A database gets the role of its exact name if listed, else of the longest pattern (`*`
//! matches any run of characters) that matches it, else none.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Deserialize;

use super::access::{Access, Grant, Principal};
use super::token;
use crate::error::{Error, Result};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    token: Vec<TokenEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    sha256: String,
    #[serde(default)]
    roles: BTreeMap<String, String>,
    requests_per_second: Option<u32>,
}

/// The tokens of one version of the file.
#[derive(Debug)]
pub struct Credentials {
    tokens: Vec<([u8; 32], Arc<Principal>)>,
}

impl Credentials {
    /// Reads and checks `path`; the error names the file and what to fix.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            Error::Internal(format!(
                "cannot read the credentials file {}: {err}",
                path.display()
            ))
        })?;
        Self::parse(&text)
            .map_err(|message| Error::Internal(format!("{}: {message}", path.display())))
    }

    /// Parses the text of a credentials file.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|err| err.to_string())?;
        let mut names = HashSet::new();
        let mut hashes = HashSet::new();
        let mut tokens = Vec::new();
        for (i, entry) in file.token.into_iter().enumerate() {
            let at = format!("token[{i}] ({:?})", entry.name);
            if entry.name.is_empty() || !names.insert(entry.name.clone()) {
                return Err(format!("{at}: every token needs a name of its own"));
            }
            let hash = token::parse_hex(&entry.sha256.to_ascii_lowercase()).ok_or_else(|| {
                format!(
                    "{at}: sha256 must be 64 hex digits (the hash, never the token itself; \
                     `sqlited token hash` makes it)"
                )
            })?;
            if !hashes.insert(hash) {
                return Err(format!("{at}: the same token hash is listed twice"));
            }
            let mut grants = Vec::new();
            for (pattern, role) in entry.roles {
                let access = Access::parse(&role).ok_or_else(|| {
                    format!("{at}: role {role:?} of {pattern:?} is not read, write or admin")
                })?;
                let valid = !pattern.is_empty()
                    && pattern
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-*".contains(&b));
                if !valid {
                    return Err(format!(
                        "{at}: {pattern:?} is not a database name or pattern (A-Z, a-z, 0-9, \
                         '_', '-', and '*' for any run of characters)"
                    ));
                }
                grants.push(Grant { pattern, access });
            }
            if entry.requests_per_second == Some(0) {
                return Err(format!(
                    "{at}: requests_per_second must be at least 1 (leave it out for no limit)"
                ));
            }
            let principal = Principal::new(entry.name, grants, entry.requests_per_second);
            tokens.push((hash, Arc::new(principal)));
        }
        Ok(Self { tokens })
    }

    /// The principal of `presented`, comparing against every token in constant time.
    pub fn authenticate(&self, presented: &str) -> Option<Arc<Principal>> {
        let hash = token::hash(presented);
        let mut found = None;
        for (stored, principal) in &self.tokens {
            if token::same(stored, &hash) {
                found = Some(Arc::clone(principal));
            }
        }
        found
    }

    /// How many tokens the file lists.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the file lists no token (then nobody gets in).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// The credentials in force, swapped whole on reload.
#[derive(Debug)]
pub struct CredentialsStore {
    path: PathBuf,
    current: RwLock<Arc<Credentials>>,
}

impl CredentialsStore {
    /// Loads `path`; fails start-up when it is unreadable or wrong.
    pub fn open(path: PathBuf) -> Result<Self> {
        let credentials = Credentials::load(&path)?;
        if credentials.is_empty() {
            tracing::warn!(path = %path.display(), "the credentials file lists no token: every request will be refused");
        }
        tracing::info!(path = %path.display(), tokens = credentials.len(), "auth on");
        Ok(Self {
            path,
            current: RwLock::new(Arc::new(credentials)),
        })
    }

    /// The credentials in force.
    pub fn current(&self) -> Arc<Credentials> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Reads the file again; a bad new file keeps the old credentials and says why.
    pub fn reload(&self) {
        match Credentials::load(&self.path) {
            Ok(credentials) => {
                tracing::info!(path = %self.path.display(), tokens = credentials.len(), "credentials reloaded");
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(credentials);
            }
            Err(err) => {
                tracing::error!(error = %err, "the credentials file was not reloaded; the previous credentials stay in force");
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn parses_and_authenticates() {
        let token = "sqlited_secret";
        let text = format!(
            "[[token]]\nname = \"app\"\nsha256 = \"{}\"\nroles = {{ app = \"write\", \"r_*\" = \"read\" }}\n",
            token::hash_hex(token)
        );
        let credentials = Credentials::parse(&text).unwrap();
        let principal = credentials.authenticate(token).unwrap();
        assert_eq!(principal.name, "app");
        assert_eq!(principal.access_to("r_1"), Some(Access::Read));
        assert!(credentials.authenticate("sqlited_wrong").is_none());
    }

    #[test]
    fn refuses_mistakes() {
        let hash = token::hash_hex("x");
        for (text, expected) in [
            (
                "[[token]]\nname = \"a\"\nsha256 = \"plain\"\n",
                "64 hex digits",
            ),
            (
                &format!(
                    "[[token]]\nname = \"a\"\nsha256 = \"{hash}\"\nroles = {{ a = \"owner\" }}\n"
                ),
                "not read, write or admin",
            ),
            (
                &format!(
                    "[[token]]\nname = \"a\"\nsha256 = \"{hash}\"\nroles = {{ \"../x\" = \"read\" }}\n"
                ),
                "not a database name",
            ),
            (
                &format!(
                    "[[token]]\nname = \"a\"\nsha256 = \"{hash}\"\n[[token]]\nname = \"a\"\nsha256 = \"{hash}\"\n"
                ),
                "name of its own",
            ),
            (
                "[[token]]\nname = \"a\"\nsha256 = \"x\"\nbogus = 1\n",
                "unknown field",
            ),
        ] {
            let err = Credentials::parse(text).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }
}
