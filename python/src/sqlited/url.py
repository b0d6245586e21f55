"""Where a connection goes: ``[http://|https://]host:port/database`` or
``unix:/path/to.sock?database=NAME``, and its channel."""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import grpc

from .exceptions import InterfaceError

# Rows stream in messages of the server's size; values may be large.
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
]


class Target(NamedTuple):
    address: str  # host:port or unix:/path, as gRPC takes it
    database: str
    tls: bool


def parse(url: str) -> Target:
    """``http://host:port/db`` and ``host:port/db`` are plain; ``https://host:port/db`` is
    TLS. ``[::1]:50051/db`` for IPv6. ``unix:/run/sqlited.sock?database=db`` is the server's
    Unix socket (``--listen unix:PATH``), plaintext: a socket's path may hold any ``/``, so
    the database goes in the query."""
    if url.startswith("unix:"):
        return _parse_unix(url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "http", url
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        raise InterfaceError(f"unknown scheme {scheme!r} in {url!r}: use http:// or https://")
    address, _, database = rest.partition("/")
    database = database.rstrip("/")
    if not address or not database or "/" in database:
        raise InterfaceError(f"the URL must be [http[s]://]host:port/database, not {url!r}")
    return Target(address, database, scheme == "https")


def _parse_unix(url: str) -> Target:
    path, _, query = url[len("unix:"):].partition("?")
    if path.startswith("//"):
        path = path[2:]
    key, _, database = query.partition("=")
    if not path or key != "database" or not database or any(c in database for c in "&/="):
        raise InterfaceError(
            f"the URL must be unix:/path/to.sock?database=NAME, not {url!r}")
    return Target(f"unix:{path}", database, False)


def open_channel(module: Any, target: Target, root_certificates: Optional[bytes]) -> Any:
    """A channel to ``target``: ``module`` is ``grpc`` (blocking) or ``grpc.aio``."""
    if target.tls:
        credentials = grpc.ssl_channel_credentials(root_certificates)
        return module.secure_channel(target.address, credentials, options=CHANNEL_OPTIONS)
    options = CHANNEL_OPTIONS
    if target.address.startswith("unix:"):
        # gRPC's core sends the socket's path as :authority, which the server's HTTP/2
        # stack refuses (PROTOCOL_ERROR); name a host instead, as Go and Rust clients do.
        options = [*CHANNEL_OPTIONS, ("grpc.default_authority", "localhost")]
    return module.insecure_channel(target.address, options=options)
