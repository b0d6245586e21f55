//! The tower layer that authenticates every request before any service sees it (first
//! refusing one that gives twice a header read as one value, `connections::singletons`:
//! which of two tokens would be the one?).
//!
//! Health checks pass without a token (orchestrators probe them; a token they do carry is
//! authenticated, for the per-database entries, see `service::health`); everything else needs
//! `authorization: Bearer <token>` naming a token of the credentials file. The request then
//! carries its [`Principal`] in its extensions, for the services to check roles. A token
//! over its `requests_per_second` is answered RESOURCE_EXHAUSTED with a retry hint.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tonic::body::Body;
use tower::{Layer, Service};

use super::{CredentialsStore, Principal};
use crate::error::Error;

/// The layer, for `Server::builder().layer(..)`.
#[derive(Clone)]
pub struct AuthLayer {
    store: Option<Arc<CredentialsStore>>,
}

impl AuthLayer {
    /// Authenticates against `store`; `None` lets every request through (auth off).
    pub fn new(store: Option<Arc<CredentialsStore>>) -> Self {
        Self { store }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            store: self.store.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around the router.
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    store: Option<Arc<CredentialsStore>>,
}

impl<S, B> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // Before the token is read: which of two tokens would be the one?
        if let Some(err) = crate::connections::singletons::repeated(
            request.headers(),
            crate::connections::singletons::GRPC,
        ) {
            tracing::info!(path = request.uri().path(), error = %err, "refused: a header given twice");
            let refused = err.into_status(None).into_http();
            // (Its x-request-id is the one RequestIdLayer puts on every answer.)
            return Box::pin(std::future::ready(Ok(refused)));
        }
        let Some(store) = &self.store else {
            return Box::pin(self.inner.call(request));
        };
        if request.uri().path().starts_with("/grpc.health.v1.Health/") {
            // Without a (valid) principal the health service answers the server-wide
            // entries only.
            if request.headers().contains_key(http::header::AUTHORIZATION)
                && let Ok(principal) = authenticate(store, request.headers(), request.uri().path())
            {
                request.extensions_mut().insert(principal);
            }
            return Box::pin(self.inner.call(request));
        }
        match authenticate(store, request.headers(), request.uri().path()) {
            Ok(principal) => {
                request.extensions_mut().insert(principal);
                Box::pin(self.inner.call(request))
            }
            Err(err) => {
                let id = crate::service::request_id::of(request.headers());
                let refused = err.into_status(Some(&id)).into_http();
                Box::pin(std::future::ready(Ok(refused)))
            }
        }
    }
}

/// The principal of a request to `path` with `headers`, or why it has none: gRPC requests
/// and the HTTP gateway's alike.
pub fn authenticate(
    store: &CredentialsStore,
    headers: &http::HeaderMap,
    path: &str,
) -> Result<Arc<Principal>, Error> {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(header) = header else {
        tracing::info!(path, "refused: no token");
        return Err(Error::Unauthenticated(
            "this server requires a token: send the metadata `authorization: Bearer <token>` \
             (sqlited-cli --token, ClientOptions::token)"
                .into(),
        ));
    };
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .unwrap_or("");
    let Some(principal) = store.current().authenticate(token) else {
        tracing::info!(path, "refused: unknown token");
        return Err(Error::Unauthenticated(
            "the token is not valid on this server (unknown, revoked, or not in the form \
             `Bearer <token>`)"
                .into(),
        ));
    };
    if !principal.admit() {
        tracing::info!(path, token = %principal.name, "refused: over its request rate");
        return Err(Error::ResourceExhausted {
            message: format!(
                "token {:?} is over its requests_per_second; slow down and retry",
                principal.name
            ),
            retryable: true,
        });
    }
    Ok(principal)
}
