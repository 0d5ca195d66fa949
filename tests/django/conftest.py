"""The Django tests: a small project (tests/django/project, app tests/django/shop) on a database
of each test's own, cloned from a template that has pgqueue's schema and the app's tables.

Django 6 (django.tasks) needs Python 3.12+. .ci/run runs these in a stage of their own, under
3.12 with Django installed; its 3.11 stages do not collect them. Anywhere else without Django
they skip, saying why.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from collections.abc import Iterator

import pytest

from tests.ci_strict import in_ci
from tests.conftest import TEST_DSN, create_database, drop_database, dsn_for

NEEDS = "Django 6 (django.tasks) needs Python 3.12+ and `pip install -e .[dev,django]`"
DJANGO = sys.version_info >= (3, 12) and importlib.util.find_spec("django") is not None

if sys.version_info < (3, 12) and in_ci():
    collect_ignore_glob = ["*"]  # .ci/run's Django stage runs them under 3.12

if DJANGO:
    import django

    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.django.project.settings"
    os.environ["SHOP_DATABASE_URL"] = TEST_DSN
    django.setup()


def use_database(name: str) -> None:
    """Point Django's connections (every thread's, present and future) at database `name`."""
    from django.db import connections

    close_everywhere()
    connections.settings["default"]["NAME"] = name


def close_everywhere() -> None:
    """Close Django's connections in this thread and in the thread the ORM's async calls use."""
    from asgiref.sync import sync_to_async
    from django.db import connections

    connections.close_all()
    asyncio.run(sync_to_async(connections.close_all, thread_sensitive=True)())


@pytest.fixture(scope="session")
def django_template(template_db: str) -> Iterator[str]:
    """pgqueue's migrated template plus the shop's tables (Django's migrate, syncdb)."""
    if not DJANGO:
        pytest.skip(NEEDS)
    from django.core.management import call_command

    name = create_database(template=template_db)
    try:
        use_database(name)
        call_command("migrate", run_syncdb=True, verbosity=0)
        close_everywhere()
        yield name
    finally:
        drop_database(name)


@pytest.fixture
def shop_db(django_template: str) -> Iterator[str]:
    """A fresh database for this test, Django pointed at it; its DSN."""
    name = create_database(template=django_template)
    try:
        use_database(name)
        yield dsn_for(name)
    finally:
        close_everywhere()
        drop_database(name)
