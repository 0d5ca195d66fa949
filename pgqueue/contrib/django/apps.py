"""The Django app (INSTALLED_APPS "pgqueue.contrib.django"): it brings the pgqueue_worker
management command and has no models (pgqueue's tables come from `pgqueue migrate`)."""

from __future__ import annotations

from django.apps import AppConfig


class PgQueueConfig(AppConfig):  # type: ignore[misc]  # Django ships no type hints
    name = "pgqueue.contrib.django"
    label = "pgqueue"
    verbose_name = "pgqueue"
