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


def test_pooler_from_environment_and_arguments() -> None:
    """PGQUEUE_POOLER / PGQUEUE_LISTEN_DSN, the App's arguments over them (docs/pgbouncer.md)."""
    env = {"PGQUEUE_POOLER": "transaction", "PGQUEUE_LISTEN_DSN": "host=direct dbname=db"}
    loaded = AppSettings.load(env=env)
    assert (loaded.pooler, loaded.listen_dsn) == ("transaction", "postgresql://direct/db")
    assert AppSettings.load(env={}).pooler == "none"
    assert AppSettings.load(env=env, pooler="session").pooler == "session"


def test_an_app_behind_a_transaction_pooler_listens_only_on_a_listen_dsn() -> None:
    assert App("postgresql://h/db").listens
    assert App("postgresql://h/db", pooler="session").listens
    behind = App("postgresql://bouncer/db", pooler="transaction")
    assert not behind.listens
    with pytest.raises(RuntimeError, match="listen_dsn"):
        _ = behind.listener
    direct = App("postgresql://bouncer/db", pooler="transaction", listen_dsn="postgresql://pg/db")
    assert direct.listens and direct.listener.dsn == "postgresql://pg/db"


@pytest.mark.parametrize(
    ("value", "message"),
    [("statement", "statement pooling forbids"), ("pgbouncer", "one of none, session")],
)
def test_a_bad_pooler_is_a_clear_error(value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AppSettings.load(env={"PGQUEUE_POOLER": value})
