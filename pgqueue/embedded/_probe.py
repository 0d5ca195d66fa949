"""Does a PostgreSQL server answer where libpq (and asyncpg) would look with no DSN given?
PGHOST/PGPORT when set, else the usual socket directories and localhost:5432. "Answers" means
something accepts the connection: a server that then wants a password still counts, so a
configured server is never replaced by an embedded one behind its user's back."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

# asyncpg's defaults (connect_utils) when neither the DSN nor PGHOST names a host.
DEFAULT_HOSTS = ("/run/postgresql", "/var/run/postgresql", "/tmp", "/private/tmp", "localhost")
DEFAULT_PORT = 5432
CONNECT_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True)
class Address:
    host: str  # a hostname, or a socket directory (starting with "/")
    port: int

    @property
    def is_socket(self) -> bool:
        return self.host.startswith("/")

    def __str__(self) -> str:
        return f"{self.host}/.s.PGSQL.{self.port}" if self.is_socket else f"{self.host}:{self.port}"


def default_addresses(env: Mapping[str, str] | None = None) -> list[Address]:
    """Where a connection without a DSN goes, in order."""
    env = os.environ if env is None else env
    hosts = [h for h in env.get("PGHOST", "").split(",") if h] or list(DEFAULT_HOSTS)
    ports = [int(p) for p in env.get("PGPORT", "").split(",") if p.strip()] or [DEFAULT_PORT]
    if len(ports) == 1:
        ports = ports * len(hosts)
    return [Address(h, p) for h, p in zip(hosts, ports, strict=False)]


def answers(address: Address, timeout: float = CONNECT_TIMEOUT) -> bool:
    if address.is_socket:
        path = f"{address.host}/.s.PGSQL.{address.port}"
        if not os.path.exists(path):
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(path)
            except OSError:
                return False
            return True
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            return True
    except OSError:
        return False


def answering(addresses: list[Address]) -> Address | None:
    """The first address something answers at, else None."""
    return next((a for a in addresses if answers(a)), None)


def configured_elsewhere(env: Mapping[str, str] | None = None) -> bool:
    """A libpq service file names the server: the fallback is not ours to make."""
    env = os.environ if env is None else env
    return bool(env.get("PGSERVICE"))
