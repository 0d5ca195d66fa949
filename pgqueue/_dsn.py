"""Connection strings as libpq reads them, turned into the URL asyncpg takes, and shown safely.

libpq accepts two forms, and so does pgqueue:

- a URL: `postgresql://[user[:password]@][host[:port][,host[:port]...]][/dbname][?key=value&...]`,
  also `postgres://` and SQLAlchemy's `postgresql+driver://`; parts are %-decoded;
- keyword/value pairs: `host=db port=5432 password = 'a b'`: spaces around `=` allowed, values
  in single quotes may hold spaces, a backslash escapes the next character.

`parse_dsn` follows libpq's own parser (conninfo_parse and conninfo_uri_parse_options in
fe-connect.c) rule for rule; tests/unit/test_dsn.py checks it against libpq itself. It is stricter
in two places, both so a password cannot end up printed as something else: an `@` left in a URL's
host part (a password with an unencoded `@`) and a port that is not a number are refused.

Nothing here ever puts a password (or a fragment of one) into a message: `redact_dsn` masks the
values of secret keys, and of anything it cannot be sure about, and error messages describe the
problem without quoting the text around it.
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote, unquote_to_bytes

from pgqueue.errors import ConfigurationError

# Every keyword libpq 18 knows (PQconndefaults); test_dsn.py compares it with the installed libpq.
KEYWORDS = frozenset(
    {
        "application_name",
        "channel_binding",
        "client_encoding",
        "connect_timeout",
        "dbname",
        "fallback_application_name",
        "gssdelegation",
        "gssencmode",
        "gsslib",
        "host",
        "hostaddr",
        "keepalives",
        "keepalives_count",
        "keepalives_idle",
        "keepalives_interval",
        "krbsrvname",
        "load_balance_hosts",
        "max_protocol_version",
        "min_protocol_version",
        "oauth_client_id",
        "oauth_client_secret",
        "oauth_issuer",
        "oauth_scope",
        "options",
        "passfile",
        "password",
        "port",
        "replication",
        "require_auth",
        "requirepeer",
        "scram_client_key",
        "scram_server_key",
        "service",
        "ssl_max_protocol_version",
        "ssl_min_protocol_version",
        "sslcert",
        "sslcertmode",
        "sslcompression",
        "sslcrl",
        "sslcrldir",
        "sslkey",
        "sslkeylogfile",
        "sslmode",
        "sslnegotiation",
        "sslpassword",
        "sslrootcert",
        "sslsni",
        "target_session_attrs",
        "tcp_user_timeout",
        "user",
    }
)
# Keys whose value is never shown. Beyond libpq's secrets, any key that merely looks like one
# (a misspelt "passwd", a driver's own "secret_token"): showing less is the safe mistake.
SECRET_KEYWORDS = frozenset(
    {"password", "sslpassword", "oauth_client_secret", "scram_client_key", "scram_server_key"}
)
_SECRET_LOOKING = re.compile(r"pass|secret|token|key", re.IGNORECASE)
MASK = "***"

_URL_PREFIXES = ("postgresql://", "postgres://")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_LIBPQ_SPACE = " \t\n\r\f\v"  # isspace() in the C locale


class _MalformedError(Exception):
    """A DSN libpq would refuse. The reason never quotes the DSN's text; `pairs` are the
    keyword/value pairs read before the error (the keyword form is read left to right)."""

    def __init__(self, reason: str, pairs: list[tuple[str, str]] | None = None) -> None:
        super().__init__(reason)
        self.pairs = pairs or []


# -- parsing -----------------------------------------------------------------------------------


def is_secret_key(key: str) -> bool:
    return key in SECRET_KEYWORDS or bool(_SECRET_LOOKING.search(key))


def parse_dsn(dsn: str) -> dict[str, str]:
    """The connection parameters of `dsn` (libpq keyword -> value), as libpq reads them.

    Raises ConfigurationError for a DSN libpq would refuse; the message shows the DSN redacted.
    """
    if not dsn.strip():
        raise ConfigurationError("the DSN is empty")
    try:
        return _parse(dsn)
    except _MalformedError as exc:
        raise ConfigurationError(f"malformed DSN {redact_dsn(dsn)!r}: {exc}") from None


def _parse(dsn: str) -> dict[str, str]:
    text = dsn.strip()
    if not text:
        raise _MalformedError("the DSN is empty")
    url = _as_postgres_url(text)
    params = _parse_url(url) if url is not None else dict(_keyword_pairs(text))
    _check_ports(params.get("port", ""))
    return params


def _as_postgres_url(text: str) -> str | None:
    """`text` with a libpq URL prefix (SQLAlchemy's +driver dropped), None for the keyword form."""
    match = _SCHEME.match(text)
    if match is None:
        return None
    scheme = match.group(1)
    base = scheme.split("+", 1)[0]
    if base not in ("postgresql", "postgres"):
        raise _MalformedError(f"scheme {scheme!r} is not postgresql://")
    return f"{base}://{text[match.end() :]}"


def _keyword_pairs(text: str) -> list[tuple[str, str]]:
    """libpq's conninfo_parse: the (keyword, value) pairs in order."""
    pairs: list[tuple[str, str]] = []
    try:
        _read_pairs(text, pairs)
    except _MalformedError as exc:
        raise _MalformedError(str(exc), pairs) from None
    return pairs


def _read_pairs(text: str, pairs: list[tuple[str, str]]) -> None:
    i, n = 0, len(text)
    while i < n:
        if text[i] in _LIBPQ_SPACE:
            i += 1
            continue
        after_secret = bool(pairs) and is_secret_key(pairs[-1][0])
        start = i
        while i < n and text[i] != "=" and text[i] not in _LIBPQ_SPACE:
            i += 1
        key = text[start:i]
        while i < n and text[i] in _LIBPQ_SPACE:
            i += 1
        if i >= n or text[i] != "=":
            raise _MalformedError(_missing_equals(key, after_secret, first=not pairs))
        i += 1
        while i < n and text[i] in _LIBPQ_SPACE:
            i += 1
        value: list[str] = []
        quoted = i < n and text[i] == "'"
        if quoted:
            i += 1
        while True:
            if i >= n:
                if quoted:
                    raise _MalformedError(f"the quoted value of {_name(key)} has no closing quote")
                break
            char = text[i]
            i += 1
            if char == "\\":
                if i < n:
                    value.append(text[i])
                    i += 1
            elif (quoted and char == "'") or (not quoted and char in _LIBPQ_SPACE):
                break
            else:
                value.append(char)
        if key not in KEYWORDS:
            raise _MalformedError(_unknown_keyword(key, after_secret))
        pairs.append((key, "".join(value)))


def _name(key: str) -> str:
    return repr(key) if key in KEYWORDS else "a keyword"


def _missing_equals(word: str, after_secret: bool, first: bool) -> str:
    if after_secret:
        return "text with no '=' follows the password: quote a value with spaces, password='a b'"
    if first and "=" not in word:
        return (
            "expected postgresql://user@host:port/dbname or key=value pairs "
            "(host=db dbname=app user=worker)"
        )
    shown = repr(word) if word in KEYWORDS or word.isidentifier() else "a word"
    return f"{shown} has no '=' after it: quote values with spaces, key='a b'"


def _unknown_keyword(key: str, after_secret: bool) -> str:
    if after_secret:
        return "an unknown option follows the password: quote a value with spaces, password='a b'"
    if key.isidentifier() and not is_secret_key(key):
        return f"invalid connection option {key!r}"
    return "invalid connection option"


def _parse_url(url: str) -> dict[str, str]:
    """libpq's conninfo_uri_parse_options (plus the two strict checks in the module docstring)."""
    params: dict[str, str] = {}
    rest = url.split("://", 1)[1]
    p = _credentials(rest, params)
    hosts, ports, terminator, p = _hosts(rest, p)
    host_value = ",".join(hosts)
    port_value = ",".join(ports)  # as libpq: "," for two hosts without ports
    if host_value:
        params["host"] = _decode(host_value, "the host")
    if port_value:
        params["port"] = _decode(port_value, "the port")
    n = len(rest)
    if terminator and terminator != "?":
        p += 1
        start = p
        while p < n and rest[p] != "?":
            p += 1
        if rest[start:p]:
            params["dbname"] = _decode(rest[start:p], "the database name")
        terminator = rest[p] if p < n else ""
    if terminator:
        params.update(_query_params(rest[p + 1 :]))
    return params


def _credentials(rest: str, params: dict[str, str]) -> int:
    """The user and password before an '@' (into `params`); where the host list starts."""
    p, n = 0, len(rest)
    while p < n and rest[p] not in "@/":
        p += 1
    if not (p < n and rest[p] == "@"):
        return 0  # no credentials: the host starts right after ://
    at = p
    colon = rest.find(":", 0, at)
    user = rest[: colon if colon != -1 else at]
    if user:
        params["user"] = _decode(user, "the user name")
    if colon != -1 and rest[colon + 1 : at]:
        params["password"] = _decode(rest[colon + 1 : at], "the password")
    return at + 1


def _hosts(rest: str, p: int) -> tuple[list[str], list[str], str, int]:
    """The comma-separated host[:port] list from `p`: hosts, ports, the character that ended
    it ('/', '?' or '') and its position."""
    n = len(rest)
    hosts: list[str] = []
    ports: list[str] = []
    while True:
        host, p = _host_at(rest, p)
        hosts.append(host)
        terminator = rest[p] if p < n else ""
        port = ""
        if terminator == ":":
            p += 1
            start = p
            while p < n and rest[p] not in "/?,":
                p += 1
            port = rest[start:p]
            terminator = rest[p] if p < n else ""
        ports.append(port)
        if terminator != ",":
            return hosts, ports, terminator, p
        p += 1


def _host_at(rest: str, p: int) -> tuple[str, int]:
    """One host (a name, an address or an [IPv6 address]) starting at `p`, and where it ends."""
    n = len(rest)
    if p < n and rest[p] == "[":
        close = rest.find("]", p)
        if close == -1:
            raise _MalformedError("an IPv6 address in [ has no closing ]")
        if close == p + 1:
            raise _MalformedError("an IPv6 address in [] is empty")
        host = rest[p + 1 : close]
        p = close + 1
        if p < n and rest[p] not in ":/?,":
            raise _MalformedError("unexpected text after an IPv6 address (expected : or /)")
    else:
        start = p
        while p < n and rest[p] not in ":/?,":
            p += 1
        host = rest[start:p]
    if "@" in host:
        raise _MalformedError("an '@' in a user name or password must be written %40")
    return host, p


def _query_params(query: str) -> dict[str, str]:
    """libpq's conninfo_uri_parse_params. Unknown keys are kept: asyncpg sends them as server
    settings (`?search_path=app`), a feature pgqueue's users may rely on."""
    params: dict[str, str] = {}
    for part in query.split("&") if query else []:
        raw_key, eq, raw_value = part.partition("=")
        if not eq:
            raise _MalformedError("a query parameter has no '='")
        if "=" in raw_value:
            raise _MalformedError("a query parameter has a second '='")
        key = _decode(raw_key, "a query parameter's name")
        value = _decode(raw_value, "a query parameter's value")
        if key == "ssl" and value == "true":  # libpq's JDBC compatibility
            key, value = "sslmode", "require"
        params[key] = value
    return params


def _decode(raw: str, what: str) -> str:
    """libpq's conninfo_uri_decode: %XX only (a '+' stays a '+'), no %00."""
    if re.search(r"%(?![0-9A-Fa-f]{2})", raw):
        raise _MalformedError(f"{what} has an invalid %-escape")
    data = unquote_to_bytes(raw)
    if b"\x00" in data:
        raise _MalformedError(f"{what} holds %00, which libpq forbids")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise _MalformedError(f"{what} is not valid UTF-8 once %-decoded") from None


def _check_ports(value: str) -> None:
    for port in value.split(","):
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            # Not quoted: in a URL whose password holds a '/', libpq reads part of it as the port.
            raise _MalformedError("a port must be a number from 1 to 65535")


# -- the URL asyncpg takes -----------------------------------------------------------------------


def normalize_dsn(dsn: str) -> str:
    """Any DSN libpq accepts as the equivalent URL asyncpg reads the same way.

    Rebuilt from the parsed parameters, every part %-encoded, because asyncpg's own URL parsing
    differs from libpq's ('#' or '?' in a password, '+' in a query value)."""
    return to_url(parse_dsn(dsn))


def to_url(params: dict[str, str]) -> str:
    rest = dict(params)
    user = rest.pop("user", None)
    password = rest.pop("password", None)
    dbname = rest.pop("dbname", None)
    hosts = [h for h in rest.pop("host", "").split(",") if h]
    port = rest.pop("port", "")
    auth = ""
    if user is not None or password is not None:
        auth = _enc(user or "") + (f":{_enc(password)}" if password is not None else "") + "@"
    netloc = ""
    query: dict[str, str] = {}
    if not hosts or any(h.startswith("/") for h in hosts):
        # A socket directory cannot sit in asyncpg's netloc, nor a port without a host: its
        # query takes them (no host: PGHOST or the local socket, as with libpq).
        if hosts:
            query["host"] = ",".join(_bracketed(h) for h in hosts)
        if port:
            default = os.environ.get("PGPORT", "5432")
            query["port"] = ",".join(p or default for p in port.split(","))
    else:
        netloc = ",".join(
            _bracketed(h, encode=True) + (f":{p}" if p else "")
            for h, p in zip(hosts, _ports_for(hosts, port), strict=True)
        )
    query.update(rest)
    path = f"/{_enc(dbname)}" if dbname else ""
    tail = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in query.items())
    return f"postgresql://{auth}{netloc}{path}" + (f"?{tail}" if tail else "")


def _ports_for(hosts: list[str], port: str) -> list[str]:
    """One port per host: libpq applies a single port to every host."""
    ports = port.split(",") if port else [""]
    if len(ports) == 1:
        return ports * len(hosts)
    if len(ports) != len(hosts):
        raise ConfigurationError(f"{len(ports)} ports given for {len(hosts)} hosts")
    return ports


def _enc(value: str) -> str:
    return quote(value, safe="")


def _bracketed(host: str, *, encode: bool = False) -> str:
    if ":" in host and not host.startswith("/"):  # an IPv6 address
        return f"[{quote(host, safe=':') if encode else host}]"
    return _enc(host) if encode else host


# -- showing a DSN -------------------------------------------------------------------------------


def redact_dsn(dsn: str | None) -> str:
    """The DSN with every password (and anything that might be one) replaced by ***, safe for
    logs and error messages, for valid and malformed DSNs alike."""
    if not dsn or not dsn.strip():
        return "(libpq defaults)"
    text = dsn.strip()
    if _SCHEME.match(text):
        return _redact_url(text)
    return _redact_keywords(text)


def _redact_url(text: str) -> str:
    scheme, rest = text.split("://", 1)
    # The credentials end at the LAST '@': a password with an unencoded '@', '/' or '?' in it
    # ends there too, whatever a parser makes of it. At worst this hides a host.
    at = rest.rfind("@")
    if at != -1:
        colon = rest.find(":", 0, at)
        if colon != -1:
            rest = f"{rest[:colon]}:{MASK}{rest[at:]}"
    else:
        # No credentials: in "user:secret" (the host forgotten) the password reads as a port.
        end = len(re.match(r"[^/?]*", rest).group(0))  # type: ignore[union-attr]
        rest = ",".join(_mask_odd_port(entry) for entry in rest[:end].split(",")) + rest[end:]
    rest = re.sub(r"([?&])([^&=]*)=([^&]*)", _mask_query_value, rest)
    return f"{scheme}://{rest}"


def _mask_query_value(match: re.Match[str]) -> str:
    if is_secret_key(_safe_unquote(match.group(2))):
        return f"{match.group(1)}{match.group(2)}={MASK}"
    return match.group(0)


def _mask_odd_port(entry: str) -> str:
    """host:port with a port that is not a number shown as host:***."""
    head = entry[: entry.index("]") + 1] if entry.startswith("[") and "]" in entry else ""
    host, colon, port = entry[len(head) :].rpartition(":")
    if colon and port and not port.isdigit():
        return f"{head}{host}:{MASK}"
    return entry


def _safe_unquote(raw: str) -> str:
    return unquote_to_bytes(raw).decode(errors="replace")


def _redact_keywords(text: str) -> str:
    try:
        pairs, complete = _keyword_pairs(text), True
    except _MalformedError as exc:
        pairs, complete = exc.pairs, False
    shown = [
        f"{key}={MASK}" if is_secret_key(key) or key not in KEYWORDS else f"{key}={_quoted(value)}"
        for key, value in pairs
    ]
    if not complete:
        shown.append("...")  # the rest is not shown: it may be the tail of a password
    return " ".join(shown)


def _quoted(value: str) -> str:
    if value and not re.search(r"[\s'\\]", value):
        return value
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def dsn_host(dsn: str | None) -> str:
    """Where the DSN points, as host:port (several comma-separated), never the password."""
    params: dict[str, str] = {}
    if dsn:
        try:
            params = _parse(dsn)
        except _MalformedError:
            return "(a malformed DSN)"
    host = params.get("host") or params.get("hostaddr")
    port = params.get("port")
    if not host:
        host = os.environ.get("PGHOST") or "the local socket"
        port = port or os.environ.get("PGPORT")
    hosts = host.split(",")
    try:
        ports = _ports_for(hosts, port or "")
    except ConfigurationError:
        ports = [""] * len(hosts)
    return ",".join(
        _bracketed(h) + (f":{p}" if p else "") for h, p in zip(hosts, ports, strict=True)
    )


def dsn_database(dsn: str | None) -> str:
    """The database the DSN names, as libpq picks it: dbname, else PGDATABASE, else the user
    name (the DSN's, PGUSER, or the operating system's). For messages: when the schema is
    missing, the wrong database is a likelier cause than the wrong host."""
    params: dict[str, str] = {}
    if dsn:
        try:
            params = _parse(dsn)
        except _MalformedError:
            return "(a malformed DSN)"
    if params.get("dbname") or os.environ.get("PGDATABASE"):
        return params.get("dbname") or os.environ["PGDATABASE"]
    user = params.get("user") or os.environ.get("PGUSER")
    if not user:
        import getpass

        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (a container)
            user = "(the user name)"
    return user
