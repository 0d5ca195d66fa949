"""No password is ever shown, in any form: a table of DSN shapes, valid and malformed, through
redact_dsn, dsn_host and the error normalize_dsn raises (the commands that print a DSN or an
error about one are tests/integration/test_cli_errors.py's)."""

from __future__ import annotations

import pytest

from pgqueue.errors import ConfigurationError
from pgqueue.settings import dsn_host, normalize_dsn, redact_dsn

# Each word of the secret is distinctive, so any fragment of it that leaks is found.
PIECES = ("hunter2", "zebra9", "quux7")


LEAKY_SHAPES = [
    # valid
    "host=db user=u password=hunter2zebra9quux7",
    "host=db password = hunter2zebra9quux7",
    "host=db password='hunter2 zebra9 quux7'",
    r"host=db password='hunter2\' zebra9 quux7'",
    r"host=db password=hunter2\ zebra9\ quux7",
    "host=db sslpassword=hunter2zebra9quux7",
    "postgresql://u:hunter2%20zebra9%40quux7@db/x",
    "postgres://u:hunter2zebra9quux7@db:5433/x",
    "postgresql+asyncpg://u:hunter2zebra9quux7@db/x",
    "postgresql://u@db/x?password=hunter2%20zebra9quux7",
    "postgresql://u@db/x?sslmode=require&password=hunter2+zebra9+quux7",
    "postgresql://u:hunter2zebra9quux7@db1:5432,db2:5433/x",
    "host=db1,db2 port=5432,5433 password=hunter2zebra9quux7",
    "postgresql://u:hunter2?zebra9#quux7@db/x",
    # malformed
    "host=db password=hunter2 zebra9 quux7",
    "host=db password=hunter2 zebra9=quux7",
    "password=hunter2 zebra9 quux7 host=db",
    "host=db password='hunter2 zebra9 quux7",
    "host=db passwd=hunter2zebra9quux7",
    "postgresql://u:hunter2@zebra9quux7@db/x",
    "postgresql://u:hunter2/zebra9quux7@db/x",
    "postgresql://u:hunter2zebra9quux7",
    "postgresql://u:hunter2zebra9quux7@db:notaport/x",
    "postgresql://u:hunter2zebra9quux7@db/x?a=b=c",
    "postgresql://u@db/x?password=hunter2zebra9quux7&bad",
    "mysql://u:hunter2zebra9quux7@db/x",
    "mysql://u@db/x?password=hunter2zebra9quux7",
    "hunter2zebra9quux7",
]


def assert_no_secret(text: str) -> None:
    for piece in PIECES:
        assert piece not in text, text


@pytest.mark.parametrize("dsn", LEAKY_SHAPES)
def test_no_form_of_a_password_is_ever_shown(dsn: str) -> None:
    assert_no_secret(redact_dsn(dsn))
    assert_no_secret(dsn_host(dsn))
    try:
        normalize_dsn(dsn)
    except ConfigurationError as exc:
        assert_no_secret(str(exc))
        assert exc.__cause__ is None  # nor in a chained parser error a traceback would show


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("host=h password = 'a b' dbname=x", "host=h password=*** dbname=x"),
        ("host=h password=a b c", "host=h password=*** ..."),
        ("host='my host' user=u", "host='my host' user=u"),
        ("postgresql://u:a%20b@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:secret", "postgresql://u:***"),
        ("postgresql://h:5432,h2:5433/db", "postgresql://h:5432,h2:5433/db"),
        (
            "postgresql://h/db?Password=x&sslmode=require",
            "postgresql://h/db?Password=***&sslmode=require",
        ),
    ],
)
def test_redaction_keeps_what_is_safe_to_show(dsn: str, shown: str) -> None:
    assert redact_dsn(dsn) == shown


@pytest.mark.parametrize(
    ("dsn", "where"),
    [
        ("host=a,b port=5432,5433 password=x", "a:5432,b:5433"),
        ("postgresql://u:x@a,b:6000/db", "a,b:6000"),
        ("postgresql://[::1]:5433/db", "[::1]:5433"),
        ("host=/var/run/postgresql", "/var/run/postgresql"),
        ("postgresql://u:x@h:notaport/db", "(a malformed DSN)"),
    ],
)
def test_dsn_host_for_every_shape(dsn: str, where: str) -> None:
    assert dsn_host(dsn) == where


@pytest.mark.parametrize(
    ("dsn", "reason"),
    [
        ("host=h password=a b", "quote a value with spaces, password='a b'"),
        ("host=h sslmod=require", "invalid connection option 'sslmod'"),
        ("host=h password='x", "the quoted value of 'password' has no closing quote"),
        ("postgresql://u:p@ss@h/db", "an '@' in a user name or password must be written %40"),
        ("postgresql://h:x/db", "a port must be a number from 1 to 65535"),
    ],
)
def test_malformed_dsn_errors_say_what_is_wrong(dsn: str, reason: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        normalize_dsn(dsn)
    assert str(caught.value).endswith(reason)
