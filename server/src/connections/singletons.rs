//! Headers a request may give only once. A request that repeats one the server reads as a
//! single value (two `Authorization`, two `Host`, two deadlines) is ambiguous: the server
//! would take one of them silently, and a proxy in front may have judged the request by
//! the other (a way to smuggle a token, a tenant or a deadline past it). Such a request is
//! refused — INVALID_ARGUMENT on the gRPC port, 400 on the gateway — naming the header.
//! (Repeated `Content-Length` and `Transfer-Encoding` are the framing's to refuse,
//! [`super::framing`], before hyper picks one.)

use http::HeaderMap;

use crate::error::Error;

/// The metadata the gRPC port reads as one value.
pub const GRPC: &[&str] = &[
    "authorization",
    "content-type",
    "grpc-encoding",
    "grpc-timeout",
    "x-request-id",
];

/// The headers the HTTP gateway reads as one value.
pub const HTTP: &[&str] = &[
    "access-control-request-method",
    "authorization",
    "content-length",
    "content-type",
    "host",
    "origin",
    "x-request-id",
    crate::deadline::TIMEOUT_HEADER,
];

/// The refusal of a request whose `headers` repeat one of `singletons`.
pub fn repeated(headers: &HeaderMap, singletons: &[&str]) -> Option<Error> {
    singletons.iter().find_map(|name| {
        let given = headers.get_all(*name).iter().count();
        (given > 1).then(|| {
            Error::invalid(
                *name,
                format!(
                    "the request gives the header {name:?} {given} times; it is read as one \
                     value, and a proxy in front could have read another of them than this \
                     server would, so the request is refused: send it once"
                ),
            )
        })
    })
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_singleton_given_twice_is_refused_by_name_and_lists_are_not() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer a".parse().unwrap());
        headers.append("accept", "a/b".parse().unwrap());
        headers.append("accept", "c/d".parse().unwrap());
        assert!(repeated(&headers, HTTP).is_none());
        headers.append("Authorization", "Bearer b".parse().unwrap());
        match repeated(&headers, GRPC) {
            Some(Error::InvalidArgument { field, .. }) => assert_eq!(field, "authorization"),
            other => panic!("{other:?}"),
        }
        let mut headers = HeaderMap::new();
        headers.append("host", "a".parse().unwrap());
        headers.append("host", "a".parse().unwrap());
        assert!(
            repeated(&headers, HTTP).is_some(),
            "equal values are refused too"
        );
        assert!(repeated(&headers, GRPC).is_none());
    }
}
