"""Settings: where the DSN comes from, how it is normalized and redacted, and how worker settings
are read from PGQUEUE_* variables (bad values are a ConfigurationError naming the variable)."""

from __future__ import annotations

import pytest

from pgqueue.errors import ConfigurationError
from pgqueue.settings import (
    WorkerSettings,
    dsn_host,
    normalize_dsn,
    redact_dsn,
    resolve_dsn,
)

EXPLICIT = "postgresql://explicit@h1:5432/a"
FROM_PGQUEUE = "postgresql://pgqueue@h2:5432/b"
FROM_DATABASE_URL = "postgresql://dburl@h3:5432/c"


# -- DSN resolution ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("explicit", "env", "expected"),
    [
        (
            EXPLICIT,
            {"PGQUEUE_DSN": FROM_PGQUEUE, "DATABASE_URL": FROM_DATABASE_URL},
            EXPLICIT,
        ),
        (None, {"PGQUEUE_DSN": FROM_PGQUEUE, "DATABASE_URL": FROM_DATABASE_URL}, FROM_PGQUEUE),
        (None, {"DATABASE_URL": FROM_DATABASE_URL}, FROM_DATABASE_URL),
        (None, {}, None),
        # Empty values count as unset and fall through to the next source.
        ("", {"PGQUEUE_DSN": "", "DATABASE_URL": FROM_DATABASE_URL}, FROM_DATABASE_URL),
    ],
    ids=["explicit-wins", "pgqueue-dsn-next", "database-url-last", "none", "empty-is-unset"],
)
def test_resolution_order(explicit: str | None, env: dict[str, str], expected: str | None) -> None:
    assert resolve_dsn(explicit, env=env) == expected


def test_resolution_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGQUEUE_DSN", raising=False)
    monkeypatch.setenv("DATABASE_URL", FROM_DATABASE_URL)
    assert resolve_dsn() == FROM_DATABASE_URL
    monkeypatch.setenv("PGQUEUE_DSN", FROM_PGQUEUE)
    assert resolve_dsn() == FROM_PGQUEUE
    assert resolve_dsn(EXPLICIT) == EXPLICIT


def test_a_winning_source_is_used_even_if_a_later_one_is_malformed() -> None:
    assert resolve_dsn(None, env={"PGQUEUE_DSN": FROM_PGQUEUE, "DATABASE_URL": "mysql://x"}) == (
        FROM_PGQUEUE
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql+asyncpg://u:pw@h:5432/db", "postgresql://u:pw@h:5432/db"),
        ("postgresql+psycopg://u@h/db", "postgresql://u@h/db"),
        ("postgres://u@h:5433/db", "postgresql://u@h:5433/db"),
        ("postgresql://u@h/db?sslmode=require", "postgresql://u@h/db?sslmode=require"),
        ("  postgresql://u@h/db\n", "postgresql://u@h/db"),
    ],
)
def test_sqlalchemy_and_short_schemes_are_normalized(given: str, expected: str) -> None:
    assert normalize_dsn(given) == expected
    assert resolve_dsn(given, env={}) == expected
    assert resolve_dsn(None, env={"DATABASE_URL": given}) == expected


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("mysql://x", "scheme 'mysql' is not postgresql://"),
        ("sqlite:///tmp/db", "scheme 'sqlite' is not postgresql://"),
        ("", "the DSN is empty"),
        ("   ", "the DSN is empty"),
        ("just-a-hostname", "expected postgresql://user@host:port/dbname"),
        ("postgresql://u@h:notaport/db", "malformed DSN"),
        ("postgresql://u@h:99999/db", "malformed DSN"),
    ],
)
def test_malformed_dsn_raises_configuration_error(bad: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        normalize_dsn(bad)
    assert fragment in str(caught.value)


@pytest.mark.parametrize("source", ["explicit", "PGQUEUE_DSN", "DATABASE_URL"])
def test_malformed_dsn_from_any_source_raises(source: str) -> None:
    bad = "mysql://u@h/db"
    with pytest.raises(ConfigurationError, match="malformed DSN"):
        if source == "explicit":
            resolve_dsn(bad, env={})
        else:
            resolve_dsn(None, env={source: bad})


@pytest.mark.parametrize(
    "bad",
    ["mysql://admin:hunter2secret@db/x", "postgresql://admin:hunter2secret@db:99999/x"],
)
def test_malformed_dsn_error_never_shows_the_password(bad: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        normalize_dsn(bad)
    assert "hunter2secret" not in str(caught.value)
    assert "admin:***@db" in str(caught.value)


# -- redaction and host description ---------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgresql://u:hunter2@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u:p@ss:w@rd@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h:5432/db", "postgresql://u@h:5432/db"),
        ("postgresql://h/db", "postgresql://h/db"),
        ("host=h user=u password=hunter2 dbname=db", "host=h user=u password=*** dbname=db"),
        (None, "(libpq defaults)"),
        ("", "(libpq defaults)"),
    ],
)
def test_redact_dsn_hides_passwords(dsn: str | None, expected: str) -> None:
    assert redact_dsn(dsn) == expected


def test_redact_dsn_hides_a_password_in_the_query_string() -> None:
    redacted = redact_dsn("postgresql://u@h:5432/db?sslmode=require&password=hunter2")
    assert "hunter2" not in redacted
    assert redacted == "postgresql://u@h:5432/db?sslmode=require&password=***"


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgresql://u:hunter2@db.example:5433/x", "db.example:5433"),
        ("postgresql://u@db.example/x", "db.example"),
        ("host=db.example port=6432 password=hunter2", "db.example:6432"),
    ],
)
def test_dsn_host_names_the_server_never_the_password(dsn: str, expected: str) -> None:
    assert dsn_host(dsn) == expected


# -- worker settings from the environment ---------------------------------------------------


def test_worker_settings_defaults_without_environment() -> None:
    assert WorkerSettings.from_env({}) == WorkerSettings()
    assert WorkerSettings().queues == ("default",)
    assert WorkerSettings().concurrency == 50  # issue 18 goal 3 (docs/worker.md, "Concurrency")


def test_worker_settings_parse_every_kind_of_variable() -> None:
    settings = WorkerSettings.from_env(
        {
            "PGQUEUE_CONCURRENCY": "4",
            "PGQUEUE_QUEUES": "emails, reports,,",
            "PGQUEUE_POLL_INTERVAL": "0.5",
            "PGQUEUE_SHUTDOWN_TIMEOUT": "0",
            "PGQUEUE_LISTEN": "false",
            "PGQUEUE_SYNC_THREADS": "3",
            "PGQUEUE_HEARTBEAT_INTERVAL": "2",
            "PGQUEUE_HEARTBEAT_TTL": "7.5",
            "UNRELATED": "ignored",
        }
    )
    assert settings.concurrency == 4
    assert settings.queues == ("emails", "reports")
    assert settings.poll_interval == 0.5
    assert settings.shutdown_timeout == 0.0
    assert settings.listen is False
    assert settings.sync_threads == 3
    assert settings.heartbeat_interval == 2.0
    assert settings.heartbeat_ttl == 7.5


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("YES", True), ("on", True), ("0", False), ("false", False)],
)
def test_worker_settings_booleans(raw: str, expected: bool) -> None:
    assert WorkerSettings.from_env({"PGQUEUE_LISTEN": raw}).listen is expected


def test_empty_variables_count_as_unset() -> None:
    assert WorkerSettings.from_env({"PGQUEUE_CONCURRENCY": "", "PGQUEUE_QUEUES": ""}) == (
        WorkerSettings()
    )


def test_overrides_beat_the_environment_and_none_overrides_are_ignored() -> None:
    env = {"PGQUEUE_CONCURRENCY": "4", "PGQUEUE_QUEUES": "a"}
    settings = WorkerSettings.from_env(env, concurrency=7, queues=["b", "c"], poll_interval=None)
    assert settings.concurrency == 7
    assert settings.queues == ("b", "c")
    assert settings.poll_interval == WorkerSettings().poll_interval


def test_worker_settings_read_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGQUEUE_CONCURRENCY", "3")
    assert WorkerSettings.from_env().concurrency == 3


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"PGQUEUE_CONCURRENCY": "abc"}, "PGQUEUE_CONCURRENCY='abc' is not valid"),
        ({"PGQUEUE_CONCURRENCY": "1.5"}, "PGQUEUE_CONCURRENCY='1.5' is not valid"),
        ({"PGQUEUE_CONCURRENCY": "0"}, "concurrency must be at least 1"),
        ({"PGQUEUE_CONCURRENCY": "-3"}, "concurrency must be at least 1"),
        ({"PGQUEUE_POLL_INTERVAL": "soon"}, "PGQUEUE_POLL_INTERVAL='soon' is not valid"),
        ({"PGQUEUE_POLL_INTERVAL": "0"}, "poll_interval must be positive"),
        ({"PGQUEUE_SHUTDOWN_TIMEOUT": "-1"}, "shutdown_timeout must not be negative"),
        ({"PGQUEUE_SYNC_THREADS": "many"}, "PGQUEUE_SYNC_THREADS='many' is not valid"),
        ({"PGQUEUE_QUEUES": " , ,"}, "at least one non-empty queue name"),
        (
            {"PGQUEUE_HEARTBEAT_INTERVAL": "30", "PGQUEUE_HEARTBEAT_TTL": "30"},
            "heartbeat_ttl must be longer than heartbeat_interval",
        ),
    ],
)
def test_bad_values_raise_configuration_error(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        WorkerSettings.from_env(env)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    "env",
    [
        pytest.param(
            {"PGQUEUE_LISTEN": "maybe"},
            id="listen-maybe",
        ),
        pytest.param(
            {"PGQUEUE_SYNC_THREADS": "-1"},
            id="sync-threads-negative",
        ),
        pytest.param(
            {"PGQUEUE_SYNC_THREADS": "0"},
            id="sync-threads-zero",
        ),
        pytest.param(
            {"PGQUEUE_POLL_INTERVAL": "nan"},
            id="poll-interval-nan",
        ),
    ],
)
def test_more_bad_values_raise_configuration_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        WorkerSettings.from_env(env)


def test_with_returns_a_validated_copy() -> None:
    base = WorkerSettings()
    changed = base.with_(concurrency=2)
    assert changed.concurrency == 2
    assert base.concurrency == WorkerSettings().concurrency
    with pytest.raises(ConfigurationError, match="concurrency must be at least 1"):
        base.with_(concurrency=0)


def test_imports_come_comma_separated_from_the_environment_and_flags_replace_them() -> None:
    from pgqueue.settings import WorkerSettings

    env = {"PGQUEUE_IMPORTS": " myapp.billing, myapp.mail ,"}
    assert WorkerSettings.from_env(env).imports == ("myapp.billing", "myapp.mail")
    assert WorkerSettings.from_env(env, imports=["a.b"]).imports == ("a.b",)
    assert WorkerSettings.from_env({}).imports == ()


@pytest.mark.parametrize("bad", ["myapp/billing.py", "my-app.billing", "myapp..mail"])
def test_an_import_that_is_not_a_dotted_module_name_is_refused(bad: str) -> None:
    from pgqueue.errors import ConfigurationError
    from pgqueue.settings import WorkerSettings

    with pytest.raises(ConfigurationError, match="is not a dotted module name"):
        WorkerSettings(imports=(bad,))
