"""The `pgqueue` command. Each command is thin: flags -> settings -> one call -> print.

Every option also reads PGQUEUE_<OPTION> from the environment (e.g. PGQUEUE_DSN). Command
modules attach themselves to the group when imported here.
"""

from pgqueue.cli import core, dashboard, dev, jobs, ops, periodic, workers  # noqa: F401  (register commands)
from pgqueue.cli._common import log_level_everywhere
from pgqueue.cli.group import main

log_level_everywhere(main)

__all__ = ["main"]
