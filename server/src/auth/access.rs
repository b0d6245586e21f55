//! Roles and the principal a token stands for.

use std::fmt;
use std::sync::Mutex;
use std::time::Instant;

use crate::error::{Error, Result};

/// What a request may do on a database. Ordered: each level includes the ones below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// Query, read-only transactions, map reads.
    Read = 1,
    /// Also Execute, ExecuteBatch, write transactions, map writes — but not schema changes.
    Write = 2,
    /// Also schema changes (CREATE, DROP, ALTER, …) and the Admin service. Without auth,
    /// every request has it.
    Admin = 3,
}

impl Access {
    /// The access named `name` (`read`, `write`, `admin`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// The access stored as `n` by [`Access::as_u8`]; anything else is `Admin`.
    pub fn from_u8(n: u8) -> Self {
        match n {
            1 => Self::Read,
            2 => Self::Write,
            _ => Self::Admin,
        }
    }

    /// A small number for atomics.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        })
    }
}

/// A database name or pattern (`*` matches any run of characters) and the access it grants.
#[derive(Debug, Clone)]
pub struct Grant {
    pub pattern: String,
    pub access: Access,
}

impl Grant {
    fn matches(&self, database: &str) -> bool {
        glob(self.pattern.as_bytes(), database.as_bytes())
    }
}

/// `*`-only glob matching.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

/// The token a request authenticated with: its name and grants.
#[derive(Debug)]
pub struct Principal {
    /// The token's name, for logs (never the token).
    pub name: String,
    grants: Vec<Grant>,
    rate: Option<RateLimit>,
}

impl Principal {
    /// A principal named `name` with `grants`, limited to `per_second` requests if given.
    pub fn new(name: String, grants: Vec<Grant>, per_second: Option<u32>) -> Self {
        Self {
            name,
            grants,
            rate: per_second.map(RateLimit::new),
        }
    }

    /// The access on `database`: an exact name's grant, else the longest matching pattern's.
    pub fn access_to(&self, database: &str) -> Option<Access> {
        if let Some(exact) = self.grants.iter().find(|g| g.pattern == database) {
            return Some(exact.access);
        }
        self.grants
            .iter()
            .filter(|g| g.matches(database))
            .max_by_key(|g| g.pattern.len())
            .map(|g| g.access)
    }

    /// Whether the token holds a role on every database: a grant whose pattern matches any
    /// name (`"*"`).
    pub fn reads_every_database(&self) -> bool {
        self.grants
            .iter()
            .any(|g| !g.pattern.is_empty() && g.pattern.bytes().all(|b| b == b'*'))
    }

    /// The access on `database` if it is at least `needed`; else PERMISSION_DENIED saying why.
    pub fn require(&self, database: &str, needed: Access, what: &str) -> Result<Access> {
        match self.access_to(database) {
            Some(access) if access >= needed => Ok(access),
            held => {
                tracing::info!(token = %self.name, database, needed = %needed,
                    held = held.map_or("none".to_string(), |a| a.to_string()), what, "refused");
                Err(Error::PermissionDenied(format!(
                    "token {:?} has {} on database {database:?}; {what} needs the {needed} role \
                     (grant it in the credentials file)",
                    self.name,
                    held.map_or("no role".to_string(), |a| format!("the {a} role"))
                )))
            }
        }
    }

    /// Takes one request from the token's budget; false when it is spent for now.
    pub fn admit(&self) -> bool {
        self.rate.as_ref().is_none_or(RateLimit::take)
    }
}

/// A token bucket: `per_second` requests a second, bursts of as many.
#[derive(Debug)]
struct RateLimit {
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second.max(1));
        Self {
            per_second,
            state: Mutex::new((per_second, Instant::now())),
        }
    }

    fn take(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(state.1).as_secs_f64() * self.per_second;
        state.0 = (state.0 + refill).min(self.per_second);
        state.1 = now;
        if state.0 >= 1.0 {
            state.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn principal(grants: &[(&str, Access)]) -> Principal {
        let grants = grants
            .iter()
            .map(|(p, a)| Grant {
                pattern: p.to_string(),
                access: *a,
            })
            .collect();
        Principal::new("t".into(), grants, None)
    }

    #[test]
    fn most_specific_grant_wins() {
        let p = principal(&[
            ("*", Access::Admin),
            ("secret", Access::Read),
            ("rep_*", Access::Write),
            ("rep_x*", Access::Read),
        ]);
        assert_eq!(p.access_to("anything"), Some(Access::Admin));
        assert_eq!(p.access_to("secret"), Some(Access::Read));
        assert_eq!(p.access_to("rep_a"), Some(Access::Write));
        assert_eq!(p.access_to("rep_xy"), Some(Access::Read));
        let q = principal(&[("app", Access::Write)]);
        assert_eq!(q.access_to("other"), None);
        assert!(q.require("app", Access::Write, "Execute").is_ok());
        assert!(q.require("app", Access::Admin, "CREATE").is_err());
    }

    #[test]
    fn globs() {
        assert!(glob(b"a*c", b"abbbc"));
        assert!(glob(b"*", b""));
        assert!(!glob(b"a*c", b"abd"));
        assert!(glob(b"**x", b"yx"));
    }

    #[test]
    fn rate_limit_spends_and_refills() {
        let rate = RateLimit::new(3);
        assert!(rate.take() && rate.take() && rate.take());
        assert!(!rate.take());
    }
}
