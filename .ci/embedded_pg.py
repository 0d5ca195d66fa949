"""The embedded PostgreSQL 18 that .ci/run's second leg tests against, with scram-sha-256 and a
generated password (pgqueue.embedded):

    python .ci/embedded_pg.py start DIR     # prints its DSN, password included
    python .ci/embedded_pg.py stop DIR      # stops it and deletes DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pgqueue.embedded import EmbeddedServer
from tests.database_server import TEST_SETTINGS


def main(command: str, directory: str) -> None:
    server = EmbeddedServer(Path(directory) / "server", durable=False, settings=TEST_SETTINGS)
    if command == "start":
        server.start()
        print(server.dsn())
    elif command == "stop":
        server.reset()
        Path(directory).rmdir()
    else:
        raise SystemExit(f"unknown command {command!r}: start or stop")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
