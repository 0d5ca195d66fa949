"""DSNs: pgqueue reads every connection string as libpq does (checked against libpq itself,
through psycopg, a dev dependency) and hands asyncpg an equivalent URL. That no password is ever
shown is test_dsn_redaction.py's."""

from __future__ import annotations

import pytest
from asyncpg import connect_utils
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from pgqueue._dsn import KEYWORDS, normalize_dsn, parse_dsn
from pgqueue.errors import ConfigurationError


def libpq(dsn: str) -> dict[str, str]:
    return {k: str(v) for k, v in conninfo_to_dict(dsn).items()}


# -- the same reading as libpq ------------------------------------------------------------------

AS_LIBPQ = [
    "host=h port=5432 dbname=d user=u password=hunter2",
    "password = hunter2",
    "  host = h \t password =  hunter2  ",
    "password='hunter2 zebra9'",
    r"password='hunter2\'s'",
    r"password=hunter2\ zebra9",
    r"password='back\\slash'",
    "password='' host=h",
    "host=h password=",
    "host='a b'password=x",
    "host=a,b port=5432,5433 dbname=x",
    "host=/var/run/postgresql dbname=x",
    "application_name=x sslmode=require target_session_attrs=any",
    "postgresql://u:hunter2@h/db",
    "postgres://u:hunter2@h:5433/db",
    "postgresql://u:hunter2%20zebra9%40quux7@h/db",
    "postgresql://u@h/db?password=hunter2",
    "postgresql://u@h/db?sslmode=require&password=hunter2%26zebra9",
    "postgresql://h1:5432,h2:5433/db",
    "postgresql://h1,h2:5433/db",
    "postgresql://[::1]:5432/db",
    "postgresql://[::1],h2/db",
    "postgresql://",
    "postgresql:///db?host=/tmp",
    "postgresql://h/db?host=/var/run/postgresql&port=5433",
    "postgresql://u:pa?ss@h/db",
    "postgresql://u:a+b@h/db",
    "postgresql://u:p#ss@h/db",
    "postgresql://h/db?application_name=a+b",
    "postgresql://h/db?ssl=true",
    "postgresql://u@/db",
    "postgresql://:hunter2@h",
    "postgresql://h/d%20b",
]

REFUSED_BY_BOTH = [
    "password='hunter2",
    "host=h nonsense",
    "bogus=1",
    "host=h password=hunter2 zebra9",
    "password hunter2",
    "postgresql://h/db?password",
    "postgresql://h/db?a=b=c",
    "postgresql://[::1/db",
    "postgresql://[]/db",
    "postgresql://[::1]x/db",
    "postgresql://u:p%zz@h/db",
    "postgresql://h/db?password=%00",
]

# libpq accepts these and fails only when it connects (a port that is no number, a host with an
# '@': a password with an unencoded '@' or '/'), printing the text it misread. pgqueue refuses.
STRICTER = [
    "postgresql://u:hunter2@zebra9@h/db",
    "postgresql://u:hunter2/zebra9@h/db",
    "postgresql://h:notaport/db",
    "postgresql://h:99999/db",
    "host=h port=0",
]


@pytest.mark.parametrize("dsn", AS_LIBPQ)
def test_parsed_exactly_as_libpq_parses_it(dsn: str) -> None:
    assert parse_dsn(dsn) == libpq(dsn)


@pytest.mark.parametrize("dsn", REFUSED_BY_BOTH)
def test_refused_where_libpq_refuses(dsn: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - psycopg's ProgrammingError
        conninfo_to_dict(dsn)
    with pytest.raises(ConfigurationError, match=r"^malformed DSN"):
        parse_dsn(dsn)


@pytest.mark.parametrize("dsn", STRICTER)
def test_stricter_than_libpq_where_libpq_would_print_a_misread_password(dsn: str) -> None:
    conninfo_to_dict(dsn)  # libpq takes it
    with pytest.raises(ConfigurationError, match=r"^malformed DSN"):
        parse_dsn(dsn)


def test_every_libpq_keyword_is_known() -> None:
    installed = {o.keyword.decode() for o in pq.Conninfo.get_defaults()}
    assert installed <= KEYWORDS, sorted(installed - KEYWORDS)


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (
            "postgresql+asyncpg://u:pw@h:5432/db",
            {"user": "u", "password": "pw", "host": "h", "port": "5432", "dbname": "db"},
        ),
        ("postgresql+psycopg2://u@h/db", {"user": "u", "host": "h", "dbname": "db"}),
        # asyncpg sends unknown query parameters as server settings; libpq would refuse them.
        ("postgresql://h/db?search_path=app", {"host": "h", "dbname": "db", "search_path": "app"}),
    ],
)
def test_what_pgqueue_accepts_beyond_libpq(dsn: str, expected: dict[str, str]) -> None:
    assert parse_dsn(dsn) == expected


# -- the URL asyncpg gets means the same ---------------------------------------------------------


def asyncpg_reading(url: str) -> dict[str, object]:
    addrs, params = connect_utils._parse_connect_dsn_and_args(
        dsn=url,
        host=None,
        port=None,
        user=None,
        password=None,
        passfile=None,
        database=None,
        ssl=None,
        service=None,
        servicefile=None,
        direct_tls=False,
        server_settings=None,
        target_session_attrs=None,
        krbsrvname=None,
        gsslib=None,
    )
    return {
        "user": params.user,
        "password": params.password,
        "database": params.database,
        "addrs": [a if isinstance(a, str) else tuple(a) for a in addrs],
    }


@pytest.mark.parametrize(
    ("dsn", "password"),
    [
        ("host=h user=u dbname=d password = 'hunter2 zebra9'", "hunter2 zebra9"),
        (r"host=h user=u dbname=d password='it\'s #1?&+%'", "it's #1?&+%"),
        ("postgresql://u:p#ss@h/d", "p#ss"),
        ("postgresql://u:pa?ss@h/d", "pa?ss"),
        ("postgresql://u:a+b@h/d", "a+b"),
        ("postgresql://u@h/d?password=a+b%26c", "a+b&c"),
        ("postgresql://u:hunter2%20zebra9@h/d", "hunter2 zebra9"),
    ],
)
def test_asyncpg_reads_the_normalized_url_as_libpq_reads_the_dsn(dsn: str, password: str) -> None:
    reading = asyncpg_reading(normalize_dsn(dsn))
    assert (reading["user"], reading["password"], reading["database"]) == ("u", password, "d")
    assert reading["addrs"] == [("h", 5432)]


@pytest.mark.parametrize(
    ("dsn", "addrs"),
    [
        ("host=a,b port=5432,5433", [("a", 5432), ("b", 5433)]),
        ("host=a,b port=6000", [("a", 6000), ("b", 6000)]),
        ("postgresql://a:5432,b:5433/d", [("a", 5432), ("b", 5433)]),
        ("host=::1 port=5433", [("::1", 5433)]),
        ("host=/var/run/postgresql port=5433", ["/var/run/postgresql/.s.PGSQL.5433"]),
    ],
)
def test_several_hosts_ipv6_and_sockets_reach_asyncpg(
    dsn: str, addrs: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPORT", raising=False)
    assert asyncpg_reading(normalize_dsn(dsn))["addrs"] == addrs
