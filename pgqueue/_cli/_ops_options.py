"""The operations flags of `pgqueue worker` (metrics, maintenance, retention), kept apart from
core.py: one decorator adds them, `apply_ops_options` folds them into the WorkerSettings."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pgqueue._cli._common import Duration, option

if TYPE_CHECKING:
    from pgqueue.settings import WorkerSettings

F = TypeVar("F", bound=Callable[..., Any])

RETENTION = Duration(keep=True)

_OPTIONS = [
    option(
        "--metrics-port",
        type=click.IntRange(0, 65535),
        default=None,
        help="Serve Prometheus metrics on this port (needs prometheus-client).",
    ),
    option(
        "--metrics-host",
        default=None,
        help="Address for the metrics endpoint. Default: 0.0.0.0.",
    ),
    option(
        "--no-maintenance",
        is_flag=True,
        default=False,
        help="Never become the maintenance leader (retention, periodic ticks).",
    ),
    option(
        "--retention-succeeded",
        type=RETENTION,
        default=None,
        help="Keep succeeded jobs this long (e.g. 1d), or 'keep'. Default: 1d.",
    ),
    option(
        "--retention-cancelled",
        type=RETENTION,
        default=None,
        help="Keep cancelled jobs this long, or 'keep'. Default: 7d.",
    ),
    option(
        "--retention-dead",
        type=RETENTION,
        default=None,
        help="Delete dead letters after this long. Default: keep until requeued or purged.",
    ),
    option(
        "--prune-interval",
        type=RETENTION,
        default=None,
        help="How often the maintenance leader deletes finished jobs past their retention. "
        "Default: 60s.",
    ),
]


def ops_worker_options(command: F) -> F:
    for add in reversed(_OPTIONS):
        command = add(command)
    return command


def apply_ops_options(settings: WorkerSettings, options: dict[str, Any]) -> WorkerSettings:
    """The settings with every operations flag that was given applied (raises
    ConfigurationError for values the settings reject)."""
    changes: dict[str, Any] = {}
    if options.get("metrics_port") is not None:
        changes["metrics_port"] = options["metrics_port"]
    if options.get("metrics_host"):
        changes["metrics_host"] = options["metrics_host"]
    if options.get("no_maintenance"):
        changes["maintenance"] = False
    for name in ("retention_succeeded", "retention_cancelled", "retention_dead", "prune_interval"):
        value = options.get(name)
        if value is not None:
            changes[name] = None if value == "keep" else value
    if changes.get("prune_interval", 0) is None:
        raise click.BadParameter("--prune-interval needs a duration")
    return settings.with_(**changes) if changes else settings
