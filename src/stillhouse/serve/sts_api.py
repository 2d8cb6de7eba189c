"""STS, as far as notebooks use it: ``GetCallerIdentity`` (query protocol: a form-encoded POST to
``/``, an XML answer), naming the account, user ARN and user id the settings configure.
:mod:`stillhouse.serve.dispatch` sends it requests signed for service ``sts``."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from stillhouse.errors import S3Error
from stillhouse.serve.context import ServeContext, read_body, signed_request
from stillhouse.serve.s3_protocol import document

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
VERSION = "2011-06-15"


def parameters(query: str, body: bytes, content_type: str) -> dict[str, str]:
    """The query protocol's parameters: the query string, and a form-encoded body."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    if body and content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def caller_identity(ctx: ServeContext, request_id: str) -> bytes:
    account, arn, user_id = ctx.settings.caller_identity
    result = [("Arn", arn), ("UserId", user_id), ("Account", account)]
    meta = [("RequestId", request_id)]
    return document(
        "GetCallerIdentityResponse",
        [("GetCallerIdentityResult", result), ("ResponseMetadata", meta)],
        ns=NAMESPACE,
    )


def answer(ctx: ServeContext, params: dict[str, str], request_id: str) -> bytes:
    """The response document for one call; other actions are STS's InvalidAction."""
    action = params.get("Action")
    if action is None:
        raise S3Error("MissingAction", "Missing Action", 400)
    if action != "GetCallerIdentity":
        raise S3Error("InvalidAction", f"Could not find operation {action} for version {VERSION}", 400)
    if params.get("Version") not in (None, VERSION):
        raise S3Error(
            "InvalidAction", f"Could not find operation {action} for version {params['Version']}", 400
        )
    return caller_identity(ctx, request_id)


def asgi_app(ctx: ServeContext) -> Callable[..., Awaitable[None]]:
    """STS as an ASGI app; every refusal is STS's XML (:func:`~stillhouse.serve.errors.sts_error`)."""
    from starlette.requests import Request
    from starlette.responses import Response

    from stillhouse.serve.errors import sts_error

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        request_id = secrets.token_hex(16)
        try:
            body = await read_body(request)
            if ctx.verifier is None:
                raise S3Error("AccessDenied", "STS is disabled: the server has no access key configured", 403)
            ctx.verifier.verify(signed_request(request, body), service="sts")
            query = (scope.get("query_string") or b"").decode("latin-1")
            params = parameters(query, body, request.headers.get("content-type", ""))
            xml = answer(ctx, params, request_id)
            response = Response(xml, 200, media_type="text/xml", headers={"x-amzn-RequestId": request_id})
        except Exception as exc:
            response = sts_error(exc, request_id=request_id)
        await response(scope, receive, send)

    return app
