"""AppSettings: the one settings load of an App, defaults < PGQUEUE_* < arguments < the command
line's flags (issue 9 property 5); no database needed."""

from __future__ import annotations

import pytest

from pgqueue import App
from pgqueue.errors import ConfigurationError
from pgqueue.settings import AppSettings, command_line

ENV = {
    "PGQUEUE_DSN": "postgresql://env-host/envdb",
    "PGQUEUE_POOL_MAX_SIZE": "4",
    "PGQUEUE_COMMAND_TIMEOUT": "45s",
}


def test_defaults_without_environment() -> None:
    assert AppSettings.load(env={}) == AppSettings(
        dsn=None,
        pool_min_size=1,
        pool_max_size=10,
        connect_timeout=10.0,
        command_timeout=30.0,
        default_max_attempts=3,
    )


def test_environment_then_arguments_then_command_line() -> None:
    from_env = AppSettings.load(env=ENV)
    assert (from_env.dsn, from_env.pool_max_size, from_env.command_timeout) == (
        "postgresql://env-host/envdb",
        4,
        45.0,
    )
    given = AppSettings.load(env=ENV, dsn="postgresql://arg-host/argdb", pool_max_size=None)
    assert (given.dsn, given.pool_max_size) == ("postgresql://arg-host/argdb", 4)
    with command_line({"dsn": "postgresql://flag-host/flagdb", "command_timeout": 0}):
        flagged = AppSettings.load(env=ENV, dsn="postgresql://arg-host/argdb")
    assert (flagged.dsn, flagged.command_timeout) == ("postgresql://flag-host/flagdb", None)
    # Outside the block the flags are gone.
    assert AppSettings.load(env=ENV).dsn == "postgresql://env-host/envdb"


def test_an_app_is_built_once_with_the_command_lines_flags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("PGQUEUE_DSN", "DATABASE_URL", "PGQUEUE_COMMAND_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    with command_line({"dsn": "postgresql://flag-host/flagdb", "command_timeout": 5.0}):
        app = App("postgresql://code-host/codedb", command_timeout=None)
    assert (app.dsn, app.command_timeout) == ("postgresql://flag-host/flagdb", 5.0)
    assert app.settings.dsn == app.dsn
    # Without flags: the code's own values, `command_timeout=None` meaning never.
    plain = App("postgresql://code-host/codedb", command_timeout=None)
    assert (plain.dsn, plain.command_timeout) == ("postgresql://code-host/codedb", None)
    assert App("postgresql://h/d").command_timeout == 30.0


def test_bad_values_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="PGQUEUE_POOL_MAX_SIZE='many' is not valid"):
        AppSettings.load(env={"PGQUEUE_POOL_MAX_SIZE": "many"})
    with pytest.raises(ConfigurationError, match="default_max_attempts must be at least 1"):
        App("postgresql://h/d", default_max_attempts=0)
    with pytest.raises(ConfigurationError, match="pool sizes"):
        AppSettings.load(env={}, pool_min_size=5, pool_max_size=2)
