"""Who may look, and forms nobody else can submit: the auth hook, token and basic auth, CSRF.

An auth hook takes the request and returns True (let it in), False (401) or a Response of its
own (a redirect to the application's login page, say); it may be async. `token_auth` and
`basic_auth` are the two the CLI offers.

CSRF: every form carries a token that must equal the one in a cookie only this site can set
(SameSite=Strict, HttpOnly), compared in constant time; a POST whose Origin is another site is
refused before that. A page on another site can neither read the cookie nor set the field.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import inspect
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

AuthResult = bool | Response
AuthHook = Callable[[Request], AuthResult | Awaitable[AuthResult]]

CSRF_COOKIE = "pgqueue_csrf"
CSRF_FIELD = "csrf_token"
TOKEN_COOKIE = "pgqueue_token"


async def check_auth(hook: AuthHook | None, request: Request) -> Response | None:
    """None when the request may go on, else the response that refuses it."""
    if hook is None:
        return None
    verdict = hook(request)
    if inspect.isawaitable(verdict):
        verdict = await verdict
    if isinstance(verdict, Response):
        return verdict
    if verdict is True:
        return None
    return PlainTextResponse("not authorised\n", status_code=401)


class TokenAuth:
    """`token_auth(token)`: lets in `Authorization: Bearer <token>`, or the browser that once
    opened a page with `?token=<token>` (the dashboard moves it into an HttpOnly cookie)."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("the dashboard token must not be empty")
        self._expected = token.encode()

    def __call__(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else None
        given = given or request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE)
        return given is not None and hmac.compare_digest(given.encode(), self._expected)


def token_auth(token: str) -> AuthHook:
    """Let in requests with `Authorization: Bearer <token>`, or the browser that once opened a
    page with `?token=<token>` (the dashboard keeps it in an HttpOnly cookie)."""
    return TokenAuth(token)


def basic_auth(username: str, password: str, realm: str = "pgqueue") -> AuthHook:
    """HTTP basic auth with one user name and password (use it behind TLS)."""
    expected = f"{username}:{password}".encode()

    def hook(request: Request) -> AuthResult:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                given = base64.b64decode(header[6:], validate=True)
            except (binascii.Error, ValueError):
                given = b""
            if hmac.compare_digest(given, expected):
                return True
        return PlainTextResponse(
            "not authorised\n",
            status_code=401,
            headers={"WWW-Authenticate": f'Basic realm="{realm}", charset="UTF-8"'},
        )

    return hook


def csrf_token(request: Request) -> str:
    """The token this browser's forms carry (its cookie's, or a new one set on the response)."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) > 100:
        token = request.state.new_csrf = secrets.token_urlsafe(32)
    return token


def csrf_problem(request: Request, form_token: object) -> str | None:
    """Why a form POST is refused, None if it is genuine."""
    origin = request.headers.get("origin")
    # Browsers send Origin with every POST; "null" (a sandboxed frame) is refused too.
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
        return "cross-site form refused"
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not isinstance(form_token, str):
        return "the form's security token is missing: reload the page and try again"
    if not hmac.compare_digest(cookie.encode(), form_token.encode()):
        return "the form's security token does not match: reload the page and try again"
    return None
