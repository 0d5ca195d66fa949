"""The development entry points' choice of server (`python examples/quickstart.py`,
`pgqueue dev`): a DSN when one is given, else libpq's defaults when a server answers there, else
an embedded server in a project-local directory. `pgqueue worker`, every other command and the
library never come here: nothing embedded starts behind a production user's back."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pgqueue.embedded._binaries import INSTALL_HINT, embedded_bin
from pgqueue.embedded._probe import answering, configured_elsewhere, default_addresses
from pgqueue.embedded._server import EmbeddedServer
from pgqueue.errors import ConfigurationError
from pgqueue.settings import resolve_dsn

DIR_ENV = "PGQUEUE_DEV_DIR"
DEFAULT_DIR = Path(".pgqueue") / "dev-pg"


def dev_directory() -> Path:
    """PGQUEUE_DEV_DIR, else .pgqueue/dev-pg under the current directory (the project)."""
    return Path(os.environ.get(DIR_ENV) or DEFAULT_DIR)


@dataclass(frozen=True, slots=True)
class DevDatabase:
    """Where a development entry point connects: `dsn` None means libpq's defaults."""

    dsn: str | None
    server: EmbeddedServer | None = None
    started: bool = False  # this call started `server` (so it may stop it when done)


def dev_database(
    explicit: str | None = None,
    *,
    directory: Path | None = None,
    say: Callable[[str], None] | None = None,
) -> DevDatabase:
    """The DSN a development entry point uses, starting the embedded server only when no DSN is
    given (`explicit`, PGQUEUE_DSN, DATABASE_URL) and nothing answers at libpq's defaults.
    `say` gets the one line that tells the user so (default: standard error)."""
    dsn = resolve_dsn(explicit)
    if dsn is not None or configured_elsewhere():
        return DevDatabase(dsn)
    addresses = default_addresses()
    if answering(addresses) is not None:
        return DevDatabase(None)
    where = ", ".join(str(a) for a in addresses)
    if embedded_bin() is None:
        raise ConfigurationError(
            f"no PostgreSQL server is configured or answers at {where}: set PGQUEUE_DSN, or "
            f"{INSTALL_HINT} to have one started for development"
        )
    server = EmbeddedServer(directory or dev_directory())
    started = server.start()
    (say or _to_stderr)(
        f"pgqueue: no PostgreSQL configured (PGQUEUE_DSN, DATABASE_URL) or answering at "
        f"{where}: {'started' if started else 'using'} an embedded PostgreSQL {server.major_version}, "
        f"data in {_shown(server.directory)}; set PGQUEUE_DSN to use a real server instead"
    )
    return DevDatabase(server.dsn(), server, started)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
