//! The channel every stub of a [`Client`](crate::Client) shares: one HTTP/2 connection —
//! TLS for `https://` URLs, with the server checked against a CA file or the system's roots
//! and an optional client certificate; plaintext over a Unix domain socket for `unix:PATH`
//! URLs — and the bearer token added to every request.
//!
//! The URL forms are [`crate::url`]'s.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::error::{Error, ErrorKind, Result};
use crate::options::ClientOptions;

/// What the generated stubs run over.
pub type Transport = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer <token>` to every request, when there is a token.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub use crate::url::with_scheme;

/// Connects to the server of `url` as `options` say.
pub async fn connect(url: &str, options: &ClientOptions) -> Result<Transport> {
    let interface = |message: String| Error::new(ErrorKind::Interface, message);
    let target = crate::url::parse(url)?;
    if let Some(database) = &target.database {
        return Err(interface(format!(
            "{url:?} names database {database:?}, and Client::connect takes a server's URL: \
             use Database::connect(url) to open the database, or Client::connect({:?}) and \
             then Client::open({database:?})",
            target.server
        )));
    }
    let url = &*target.server;
    let mut endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|err| interface(format!("invalid server URL {url:?}: {err}")))?
        .connect_timeout(options.connect_timeout)
        .tcp_nodelay(true);
    let tls_asked = options.tls_ca_pem.is_some() || options.tls_identity_pem.is_some();
    if url.starts_with("unix:") && tls_asked {
        return Err(interface(format!(
            "TLS settings were given but {url:?} is a Unix socket, which serves plaintext (the \
             socket file's permissions decide who connects); drop them or use https://"
        )));
    }
    if url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        tls = match &options.tls_ca_pem {
            Some(ca) => tls.ca_certificate(Certificate::from_pem(ca)),
            None => tls.with_native_roots(),
        };
        if let Some((cert, key)) = &options.tls_identity_pem {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        if let Some(domain) = &options.tls_domain {
            tls = tls.domain_name(domain.clone());
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|err| interface(format!("the TLS settings are unusable: {err}")))?;
    } else if tls_asked {
        return Err(interface(format!(
            "TLS settings were given but the URL {url:?} is not https://; use https:// to \
             connect with TLS"
        )));
    }
    let token =
        match &options.token {
            Some(token) => Some(format!("Bearer {}", token.trim()).parse().map_err(|_| {
                interface("the token holds characters a header cannot carry".into())
            })?),
            None => None,
        };
    let channel = endpoint.connect().await?;
    Ok(InterceptedService::new(channel, Bearer(token)))
}

/// `message` as a request with `timeout` as its deadline (sent as `grpc-timeout`), if any.
pub fn with_timeout<T>(message: T, timeout: Option<std::time::Duration>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(timeout) = timeout {
        request.set_timeout(timeout);
    }
    request
}
