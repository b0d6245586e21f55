//! What replication needs before the server starts, and the environment every Litestream
//! process gets.
//!
//! [`check`] runs before Litestream starts and refuses configuration that can never work,
//! naming the variable or flag and the fix: a CA bundle (`AWS_CA_BUNDLE`, `SSL_CERT_FILE`)
//! that is missing, unreadable or holds no PEM certificate; half an access key; a replica
//! URL Litestream cannot use. What may start working later — the store not answering now,
//! a bucket not created yet — is not refused: [`probe`] asks the store once, in the
//! background, and the answer goes to the log and to readiness (see [`super::diagnosis`]).
//!
//! [`command`] is the one way a Litestream process is started (the replicating child, the
//! listings of generations, restores). Litestream 0.5's S3 client cannot take
//! `AWS_CA_BUNDLE` at all (the AWS SDK answers "unable to add custom RootCAs HTTPClient"
//! for every request, a bundle good or not), so sqlited hands the same file to Go's TLS as
//! `SSL_CERT_FILE` instead, which has the bundle's meaning: the certificates trusted for the
//! store in place of the system's.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};

/// The CA bundle variables, in the order they win: the AWS SDK's, then Go's own.
const CA_VARIABLES: [&str; 2] = ["AWS_CA_BUNDLE", "SSL_CERT_FILE"];

/// The access-key pairs Litestream reads (its own names first, as it does).
const KEY_PAIRS: [(&str, &str); 2] = [
    ("LITESTREAM_ACCESS_KEY_ID", "LITESTREAM_SECRET_ACCESS_KEY"),
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
];

/// A variable's value, `None` when unset or empty (as the AWS SDK reads them).
fn var(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|value| !value.is_empty())
}

/// The CA bundle Litestream is to trust, with the variable that named it.
fn ca_bundle() -> Option<(&'static str, PathBuf)> {
    CA_VARIABLES
        .iter()
        .find_map(|name| var(name).map(|value| (*name, PathBuf::from(value))))
}

/// Refuses replication settings that can never work: each error names what to change.
///
/// # Errors
/// FAILED_PRECONDITION: an unusable CA bundle, half an access key, a replica URL that is
/// not understood.
pub fn check(url: &str) -> Result<()> {
    for name in CA_VARIABLES {
        if let Some(path) = var(name) {
            check_ca_bundle(name, Path::new(&path))?;
        }
    }
    check_url(url)?;
    if url.starts_with("s3://") {
        for (id, secret) in KEY_PAIRS {
            match (var(id).is_some(), var(secret).is_some()) {
                (true, false) | (false, true) => {
                    let (set, unset) = if var(id).is_some() {
                        (id, secret)
                    } else {
                        (secret, id)
                    };
                    return Err(Error::FailedPrecondition(format!(
                        "{set} is set but {unset} is not: replication to {} would be refused \
                         by the store; set both (or neither, to use a profile or the \
                         instance's role)",
                        redact(url)
                    )));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The file `name` names holds at least one PEM certificate, and only well-formed ones.
fn check_ca_bundle(name: &str, path: &Path) -> Result<()> {
    let fix = format!("set {name} to a PEM file of CA certificates, or unset it");
    let pem = std::fs::read(path).map_err(|err| {
        Error::FailedPrecondition(format!(
            "{name}={} cannot be read ({err}): Litestream could not verify the replica \
             store's certificate; {fix}",
            path.display()
        ))
    })?;
    let not_a_bundle = |err: String| {
        Error::FailedPrecondition(format!(
            "{name}={} is not a CA bundle ({err}); {fix}",
            path.display()
        ))
    };
    let certificates = crate::connections::tls::certificates(&pem).map_err(not_a_bundle)?;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for (n, certificate) in certificates.into_iter().enumerate() {
        roots.add(certificate).map_err(|err| {
            not_a_bundle(format!(
                "certificate {} is not an X.509 CA certificate: {err}",
                n + 1
            ))
        })?;
    }
    Ok(())
}

/// The URL has a scheme Litestream knows, and for S3 a bucket and an http(s) endpoint.
fn check_url(url: &str) -> Result<()> {
    let refuse = |why: String| {
        Error::FailedPrecondition(format!(
            "--replica-url {}: {why}; the form is s3://BUCKET/PREFIX?endpoint=https://HOST:PORT\
             &region=REGION, or file:///PATH",
            redact(url)
        ))
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(refuse("it has no scheme".into()));
    };
    const SCHEMES: [&str; 8] = ["s3", "file", "gs", "abs", "sftp", "webdav", "nats", "oss"];
    if !SCHEMES.contains(&scheme) {
        return Err(refuse(format!(
            "Litestream does not replicate to {scheme}:// (it knows {})",
            SCHEMES.join(", ")
        )));
    }
    if scheme == "s3" {
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        if location.split('/').next().unwrap_or_default().is_empty() {
            return Err(refuse("it names no bucket".into()));
        }
        let endpoint = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("endpoint="));
        if let Some(endpoint) = endpoint {
            let decoded = percent_encoding::percent_decode_str(endpoint).decode_utf8_lossy();
            if !(decoded.starts_with("http://") || decoded.starts_with("https://")) {
                return Err(refuse(format!(
                    "its endpoint {decoded:?} is not an http:// or https:// URL"
                )));
            }
        }
    }
    Ok(())
}

/// `url` without a password it may carry (`sftp://user:secret@host`).
fn redact(url: &str) -> String {
    match (url.split_once("://"), url.find('@')) {
        (Some((scheme, rest)), Some(_)) => match rest.split_once('@') {
            Some((user, host)) if user.contains(':') => {
                let name = user.split(':').next().unwrap_or_default();
                format!("{scheme}://{name}:***@{host}")
            }
            _ => url.to_string(),
        },
        _ => url.to_string(),
    }
}

/// A Litestream command (`binary`), with the environment sqlited gives every Litestream
/// process: the CA bundle as `SSL_CERT_FILE`, never `AWS_CA_BUNDLE` (see the module's doc).
pub fn command(binary: &Path) -> Command {
    let mut command = Command::new(binary);
    if let Some((_, path)) = ca_bundle() {
        command.env("SSL_CERT_FILE", path);
    }
    command.env_remove("AWS_CA_BUNDLE");
    command
}

/// Where a bundle came from, for the start-up log.
pub fn describe() -> Option<String> {
    ca_bundle().map(|(name, path)| format!("{name}={}", path.display()))
}

/// Asks the store once whether it can be used (lists a path under `url`, within
/// `timeout`, stopped at once when `abort` disconnects: a shutdown does not wait for it):
/// `Err` with the reason if not.
pub async fn probe(
    binary: &Path,
    url: &str,
    timeout: Duration,
    abort: crossbeam_channel::Receiver<()>,
) -> Result<(), String> {
    let probe_url = super::settings::database_url(url, ".sqlited-probe");
    let binary = binary.to_path_buf();
    tokio::task::spawn_blocking(move || {
        super::generation::list(&binary, &probe_url, timeout, &abort).map(drop)
    })
    .await
    .map_err(|err| format!("the probe of the store failed: {err}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_litestream_cannot_use_are_refused() {
        assert!(check_url("s3://b/p?endpoint=http://h:1&region=r").is_ok());
        assert!(check_url("file:///var/r").is_ok());
        for bad in [
            "bucket/prefix",
            "ftp://h/p",
            "s3:///p",
            "s3://b/p?endpoint=h:8333",
        ] {
            let err = check_url(bad).unwrap_err().to_string();
            assert!(err.contains("--replica-url"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_password_in_a_url_is_not_repeated() {
        assert_eq!(redact("sftp://u:secret@h/p"), "sftp://u:***@h/p");
        assert_eq!(redact("s3://b/p"), "s3://b/p");
    }

    #[test]
    fn a_ca_bundle_must_hold_pem_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = check_ca_bundle("AWS_CA_BUNDLE", &missing).unwrap_err();
        assert!(err.to_string().contains("AWS_CA_BUNDLE="), "{err}");
        let text = dir.path().join("text.pem");
        std::fs::write(&text, "not a certificate\n").unwrap();
        let err = check_ca_bundle("AWS_CA_BUNDLE", &text).unwrap_err();
        assert!(err.to_string().contains("is not a CA bundle"), "{err}");
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let good = dir.path().join("good.pem");
        std::fs::write(&good, cert.cert.pem()).unwrap();
        check_ca_bundle("AWS_CA_BUNDLE", &good).unwrap();
    }
}
