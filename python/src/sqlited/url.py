"""Where a connection goes: ``[http://|https://]host:port/database``."""

from __future__ import annotations

from typing import NamedTuple

from .exceptions import InterfaceError


class Target(NamedTuple):
    address: str  # host:port, as gRPC takes it
    database: str
    tls: bool


def parse(url: str) -> Target:
    """``http://host:port/db`` and ``host:port/db`` are plain; ``https://host:port/db`` is
    TLS. ``[::1]:50051/db`` for IPv6."""
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
