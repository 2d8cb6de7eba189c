"""What every console page needs: the templates, the session and CSRF guards, form bodies.

Pages are server-rendered Jinja2 templates (autoescaped); the guards raise :class:`LoginRequired`
and :class:`CsrfRefused`, which :func:`stillhouse.serve.console.install` answers once (a redirect to
the login page, a 403 page).
"""

from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from stillhouse.serve.console.session import COOKIE, CSRF_FIELD, CSRF_HEADER, SessionKeys
from stillhouse.serve.context import read_body

if TYPE_CHECKING:
    from fastapi import Request
    from fastapi.responses import HTMLResponse
    from jinja2 import Environment

PREFIX = "/console"


class LoginRequired(Exception):
    """No valid session cookie: only the login page is served."""


class CsrfRefused(Exception):
    """A state-changing request without this session's CSRF token."""


@cache
def environment() -> "Environment":
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("stillhouse.serve.console", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["prefix"] = PREFIX
    return env


def keys(request: "Request") -> SessionKeys:
    return request.app.state.console_keys  # type: ignore[no-any-return]


def session_of(request: "Request") -> str | None:
    value = request.cookies.get(COOKIE)
    return value if keys(request).valid(value) else None


def require_session(request: "Request") -> str:
    """The session value, or :class:`LoginRequired` (a FastAPI dependency of every page)."""
    session = session_of(request)
    if session is None:
        raise LoginRequired()
    return session


async def read_form(request: "Request") -> dict[str, str]:
    """A urlencoded form body (the last value of a repeated name), within the server's body limit."""
    body = await read_body(request)
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def require_csrf(request: "Request", form: dict[str, str] | None = None) -> None:
    """Refuse a state-changing request whose token (header or form field) is not this session's."""
    token = request.headers.get(CSRF_HEADER) or (form or {}).get(CSRF_FIELD)
    if not keys(request).csrf_ok(session_of(request), token):
        raise CsrfRefused()


def render(request: "Request", template: str, status: int = 200, **values: Any) -> "HTMLResponse":
    """A page; every page gets the session's CSRF token and the current path (for the nav)."""
    from fastapi.responses import HTMLResponse

    session = session_of(request)
    values.setdefault("csrf", keys(request).csrf(session) if session else "")
    values.setdefault("path", request.url.path)
    html = environment().get_template(template).render(**values)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
