"""Where a connection goes: ``[http://|https://]host[:port]/database[?mode=…]`` or
``unix:/path/to.sock?database=NAME[&mode=…]``, and its channel.

A URL without a port means sqlited's own, ``DEFAULT_PORT`` (the server's ``--listen``
default), not gRPC's 443. ``mode=`` is sqlite3's URI parameter: ``rwc`` (the default: create
the database if it is missing, as ``sqlite3.connect()`` creates a file), ``rw`` (it must
exist) or ``ro`` (it must exist, and writes are refused).
"""

from __future__ import annotations

import os
from typing import Any, Dict, NamedTuple, Optional

import grpc

from .exceptions import InterfaceError

#: The port sqlited listens on by default (``--listen 127.0.0.1:50051``), and so the port of
#: a URL that names none.
DEFAULT_PORT = 50051

#: sqlite3's open modes, as ``mode=`` spells them.
MODES = ("rwc", "rw", "ro")

# The names of SQLite files, for the sqlite3 reflex (``connect("app.db")``).
_FILE_EXTENSIONS = (".db", ".sqlite", ".sqlite3", ".db3", ".s3db", ".sl3")

# Rows stream in messages of the server's size; values may be large.
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
]


class Target(NamedTuple):
    address: str  # host:port or unix:/path, as gRPC takes it
    database: str
    tls: bool
    mode: str = "rwc"


def parse(url: str) -> Target:
    """``http://host:port/db`` and ``host:port/db`` are plain; ``https://host:port/db`` is
    TLS. ``[::1]:50051/db`` for IPv6; the port defaults to ``DEFAULT_PORT``.
    ``unix:/run/sqlited.sock?database=db`` is the server's Unix socket (``--listen
    unix:PATH``), plaintext: a socket's path may hold any ``/``, so the database goes in the
    query. ``?mode=rwc|rw|ro`` (``&mode=`` after ``database=``) is the open mode."""
    if url.startswith("unix:"):
        return _parse_unix(url)
    if _names_a_file(url):
        raise InterfaceError(
            f"{url!r} is a SQLite file's name, but sqlited connects to a sqlited server: give "
            f"its URL and a database, host:port/database (e.g. 127.0.0.1:{DEFAULT_PORT}/app)"
        )
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "http", url
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        raise InterfaceError(f"unknown scheme {scheme!r} in {url!r}: use http:// or https://")
    rest, _, query = rest.partition("?")
    address, _, database = rest.partition("/")
    database = database.rstrip("/")
    if not address or not database or "/" in database:
        raise InterfaceError(f"the URL must be [http[s]://]host[:port]/database, not {url!r}")
    parameters = _parameters(url, query, ("mode",))
    if not _has_port(address):
        address = f"{address}:{DEFAULT_PORT}"
    return Target(address, database, scheme == "https", _mode(url, parameters))


def _parse_unix(url: str) -> Target:
    path, _, query = url[len("unix:"):].partition("?")
    if path.startswith("//"):
        path = path[2:]
    parameters = _parameters(url, query, ("database", "mode"))
    database = parameters.get("database", "")
    if not path or not database or "/" in database:
        raise InterfaceError(
            f"the URL must be unix:/path/to.sock?database=NAME[&mode=rwc|rw|ro], not {url!r}")
    return Target(f"unix:{path}", database, False, _mode(url, parameters))


def _parameters(url: str, query: str, known: tuple) -> Dict[str, str]:
    parameters: Dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        if key not in known:
            raise InterfaceError(
                f"unknown URL parameter {key!r} in {url!r}: the known ones are "
                f"{', '.join(known)} (mode=rwc|rw|ro, as in sqlite3's URIs)"
            )
        parameters[key] = value
    return parameters


def _mode(url: str, parameters: Dict[str, str]) -> str:
    mode = parameters.get("mode", "rwc")
    if mode == "memory":
        raise InterfaceError("mode=memory is not available: a server's databases are files; "
                             "use mode=rwc, rw or ro")
    if mode not in MODES:
        raise InterfaceError(
            f"unknown mode={mode!r} in {url!r}: use mode=rwc (create if missing, the default), "
            "rw (must exist) or ro (must exist, read only), as in sqlite3's URIs"
        )
    return mode


def _has_port(address: str) -> bool:
    """Whether ``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` names its port."""
    if "]" in address:
        return address.rpartition("]")[2].startswith(":")
    return ":" in address


def _names_a_file(url: str) -> bool:
    """The sqlite3 reflex, ``connect("app.db")``: a SQLite file's name (or an existing
    file) where a URL was expected; a URL with a scheme or a port is never one."""
    if "://" in url or ":" in url:
        return False
    return url.lower().endswith(_FILE_EXTENSIONS) or os.path.isfile(url)


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
