//! Litestream's failures that are configuration, not weather: a store that answers but
//! refuses (no such bucket, credentials refused, a certificate not trusted, the wrong
//! region), or an S3 client that cannot be built. Retrying does not help them; the
//! operator must change something. Each is recognized by the words Litestream (the AWS
//! SDK, Go's TLS) prints, and named with its fix. Everything else — a store that does not
//! answer, a timeout — is an outage, retried as before.

/// A configuration error in Litestream's words, with what it means and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misconfigured {
    /// What is wrong, in a few words.
    pub what: &'static str,
    /// What to change.
    pub fix: &'static str,
    /// Litestream's own message.
    pub said: String,
}

impl std::fmt::Display for Misconfigured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "replication is misconfigured: {} (Litestream: {}); fix: {}",
            self.what, self.said, self.fix
        )
    }
}

/// The words of each configuration error, what it means, and its fix.
const TABLE: &[(&[&str], &str, &str)] = &[
    (
        &["NoSuchBucket"],
        "the bucket of --replica-url does not exist",
        "create the bucket, or name an existing one in --replica-url",
    ),
    (
        &[
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "InvalidClientTokenId",
        ],
        "the store refuses the access key",
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a key the store accepts",
    ),
    (
        &["AccessDenied", "Forbidden"],
        "the access key may not use the bucket",
        "grant the key list, read, write and delete on the bucket and prefix of --replica-url",
    ),
    (
        &[
            "no EC2 IMDS role found",
            "failed to retrieve credentials",
            "failed to refresh cached credentials",
            "NoCredentialProviders",
        ],
        "no credentials were found for the store",
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the server's environment",
    ),
    (
        &[
            "x509:",
            "certificate signed by unknown authority",
            "tls: failed to verify certificate",
        ],
        "the store's TLS certificate is not trusted",
        "set AWS_CA_BUNDLE to a PEM file of the CA that signed the store's certificate",
    ),
    (
        &[
            "unable to add custom RootCAs",
            "failed to load custom CA bundle",
            "cannot load aws config",
        ],
        "Litestream cannot build its S3 client",
        "check AWS_CA_BUNDLE, AWS_PROFILE and AWS_CONFIG_FILE in the server's environment",
    ),
    (
        &[
            "AuthorizationHeaderMalformed",
            "PermanentRedirect",
            "IllegalLocationConstraintException",
        ],
        "the bucket is in another region",
        "set region= in --replica-url to the bucket's region",
    ),
];

/// The configuration error `message` (a failure of Litestream) reports, if it is one.
pub fn diagnose(message: &str) -> Option<Misconfigured> {
    TABLE.iter().find_map(|(words, what, fix)| {
        words
            .iter()
            .any(|word| message.contains(word))
            .then(|| Misconfigured {
                what,
                fix,
                said: said(message),
            })
    })
}

/// Litestream's own words in `message`: what follows its `Error: `, else all of it.
fn said(message: &str) -> String {
    let said = match message.rfind("Error: ") {
        Some(at) => &message[at + "Error: ".len()..],
        None => message,
    };
    said.trim().trim_end_matches(')').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_errors_are_named_with_their_fix() {
        let bucket = "Litestream cannot list the replica s3://x/y (exit status: 1): Error: \
                      operation error S3: ListObjectsV2, https response error StatusCode: 404, \
                      NoSuchBucket: The specified bucket does not exist";
        let found = diagnose(bucket).unwrap();
        assert!(found.fix.contains("create the bucket"), "{found}");
        assert!(found.said.starts_with("operation error S3"), "{found}");
        let ca = "Error: s3: cannot load aws config: unable to add custom RootCAs HTTPClient, \
                  has no WithTransportOptions, *http.Client";
        assert!(diagnose(ca).unwrap().fix.contains("AWS_CA_BUNDLE"));
        let tls = "Get \"https://h/\": tls: failed to verify certificate: x509: certificate \
                   signed by unknown authority";
        assert!(diagnose(tls).unwrap().fix.contains("AWS_CA_BUNDLE"));
    }

    #[test]
    fn outages_are_not_configuration() {
        for outage in [
            "Litestream did not list the replica s3://x/y within 2000 ms",
            "Error: dial tcp 127.0.0.1:9: connect: connection refused",
            "Litestream's control socket /s does not answer: No such file or directory",
        ] {
            assert_eq!(diagnose(outage), None, "{outage}");
        }
    }
}
