//! Tokens: random, shown once, stored only as their SHA-256 (`sqlited token new`).
//!
//! A token is `sqlited_` and 43 characters of URL-safe base64: 256 random bits, so a plain
//! SHA-256 is a safe way to store it (a slow password hash guards guessable secrets; these
//! are not guessable).

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// What every token starts with, so that leaked tokens are easy to search for.
pub const PREFIX: &str = "sqlited_";

/// A new random token.
pub fn generate() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|err| Error::Internal(format!("no randomness for a token: {err}")))?;
    Ok(format!("{PREFIX}{}", base64url(&bytes)))
}

/// The hash of `token` as stored in a credentials file: 64 hex digits.
pub fn hash_hex(token: &str) -> String {
    hex(&hash(token))
}

/// The SHA-256 of `token`.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares two hashes in time that does not depend on where they differ.
pub fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// Parses 64 hex digits.
pub fn parse_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn tokens_and_hashes() {
        let token = generate().unwrap();
        assert!(token.starts_with(PREFIX));
        assert_eq!(token.len(), PREFIX.len() + 43);
        assert_ne!(token, generate().unwrap());
        let hex = hash_hex(&token);
        assert_eq!(parse_hex(&hex), Some(hash(&token)));
        assert!(same(&hash(&token), &hash(&token)));
        assert!(!same(&hash(&token), &hash("other")));
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(base64url(b"\xff\xff\xff"), "____");
    }
}
