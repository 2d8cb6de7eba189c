"""Logging in and out: the API key typed once, a session cookie after that."""

import secrets
from typing import TYPE_CHECKING

from stillhouse.serve.console.session import COOKIE, CSRF_FIELD, LOGIN_COOKIE, same_secret
from stillhouse.serve.console.web import PREFIX, keys, read_form, render, require_csrf
from stillhouse.serve.context import context

if TYPE_CHECKING:
    from fastapi import APIRouter, Request
    from fastapi.responses import Response


def _safe_next(value: str | None) -> str:
    """Only a console path: never an open redirect to another site."""
    if value and value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX + "/search"


def _login_page(request: "Request", error: str | None = None, status: int = 200) -> "Response":
    """The form with a fresh double-submit token (its cookie and its hidden field must match)."""
    token = secrets.token_urlsafe(24)
    enabled = context(request).settings.api_key is not None
    page = render(
        request,
        "login.html.j2",
        status,
        login_token=token,
        error=error,
        enabled=enabled,
        next=_safe_next(request.query_params.get("next")),
    )
    page.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path=PREFIX + "/login")
    return page


def router() -> "APIRouter":
    from fastapi import APIRouter, Request
    from fastapi.responses import RedirectResponse, Response

    r = APIRouter()

    @r.get("/login")
    async def login_form(request: Request) -> Response:
        return _login_page(request)

    @r.post("/login")
    async def login(request: Request) -> Response:
        form = await read_form(request)
        cookie, field = request.cookies.get(LOGIN_COOKIE), form.get(CSRF_FIELD)
        if not cookie or not field or not same_secret(cookie, field):
            return _login_page(request, "The form expired; please try again.", 403)
        expected = context(request).settings.api_key
        if expected is None or not same_secret(form.get("api_key", ""), expected.get_secret_value()):
            return _login_page(request, "That is not the API key of this server.", 401)
        response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
        secure = request.url.scheme == "https"
        response.set_cookie(
            COOKIE,
            keys(request).issue(),
            httponly=True,
            samesite="strict",
            secure=secure,
            path=PREFIX,
            max_age=keys(request).ttl_s,
        )
        response.delete_cookie(LOGIN_COOKIE, path=PREFIX + "/login")
        return response

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        require_csrf(request, await read_form(request))
        response = RedirectResponse(PREFIX + "/login", status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    return r
