"""The web console on ``stillhouse serve`` (``/console``): search, jobs, models, datasets.

Server-rendered Jinja2 pages with one small script (``static/console.js``) and no build step. The
console asks once for the server's API key (the OpenAI API's), then keeps a signed HttpOnly,
SameSite=Strict session cookie; without one every page redirects to the login page, and every
state-changing request must carry the session's CSRF token (:mod:`.session`).
"""

from pathlib import Path
from typing import TYPE_CHECKING

from stillhouse.serve.console.session import SessionKeys
from stillhouse.serve.console.web import PREFIX, CsrfRefused, LoginRequired

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

STATIC = Path(__file__).parent / "static"


def install(app: "FastAPI", keys: SessionKeys | None = None) -> None:
    """Add the console's routes, static files and its two refusals to ``app``."""
    from fastapi import APIRouter, Depends, Request
    from fastapi.responses import RedirectResponse
    from fastapi.staticfiles import StaticFiles

    from stillhouse.serve.console import dataset_pages, job_pages, login, model_pages, search_pages
    from stillhouse.serve.console.web import require_session

    app.state.console_keys = keys or SessionKeys()
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC), name="console-static")
    app.include_router(login.router(), prefix=PREFIX, include_in_schema=False)

    def session(request: Request) -> str:  # a real annotation: FastAPI injects by it
        return require_session(request)

    pages = APIRouter(dependencies=[Depends(session)])
    for module in (search_pages, job_pages, model_pages, dataset_pages):
        pages.include_router(module.router())
    app.include_router(pages, prefix=PREFIX, include_in_schema=False)

    @app.get(PREFIX, include_in_schema=False)
    def _home() -> RedirectResponse:
        return RedirectResponse(PREFIX + "/search", status_code=303)

    app.add_exception_handler(LoginRequired, _login_required)  # type: ignore[arg-type]
    app.add_exception_handler(CsrfRefused, _csrf_refused)  # type: ignore[arg-type]


async def _login_required(request: "Request", exc: LoginRequired) -> "Response":
    from urllib.parse import quote

    from fastapi.responses import JSONResponse, RedirectResponse

    if request.method in ("GET", "HEAD"):
        return RedirectResponse(f"{PREFIX}/login?next={quote(request.url.path)}", status_code=303)
    return JSONResponse({"message": "log in to the console first"}, status_code=401)


async def _csrf_refused(request: "Request", exc: CsrfRefused) -> "Response":
    from stillhouse.serve.console.web import render

    message = "This request did not carry the page's security token (CSRF); reload the page and try again."
    return render(request, "error.html.j2", 403, title="Refused", message=message)
