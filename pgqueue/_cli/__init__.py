"""The `pgqueue` command. Each command is thin: flags -> settings -> one public call -> print.

Every option also reads PGQUEUE_<OPTION> from the environment (e.g. PGQUEUE_DSN). Command
modules attach themselves to the group when imported here; they import nothing heavy until a
command runs, so `pgqueue --help` and `--version` stay fast.
"""

from pgqueue._cli import core, dashboard, dev, jobs, ops, periodic, workers  # noqa: F401  (register commands)
from pgqueue._cli._common import log_level_everywhere
from pgqueue._cli.group import main

log_level_everywhere(main)

__all__ = ["main"]
