"""`python manage.py pgqueue_worker [OPTIONS]`: `pgqueue worker pgqueue.contrib.django.worker`
with this project's settings; every option of `pgqueue worker --help` works here too."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, handle_default_options

WORKER_APP = "pgqueue.contrib.django.worker:app"


class Command(BaseCommand):  # type: ignore[misc]  # Django ships no type hints
    help = "Run a pgqueue worker for this project's Django tasks (see pgqueue worker --help)."

    def run_from_argv(self, argv: list[str]) -> None:
        # Django's own options (--settings, --pythonpath, ...) are Django's; every other one is
        # `pgqueue worker`'s and goes to it untouched.
        parser = self.create_parser(argv[0], argv[1])
        options, worker_args = parser.parse_known_args(argv[2:])
        handle_default_options(options)
        self.handle(*worker_args)

    def handle(self, *args: Any, **options: Any) -> None:
        from pgqueue._cli import main  # the CLI only when the command runs

        main(["worker", WORKER_APP, *args], prog_name="manage.py pgqueue_worker")
