"""One endpoint for every AWS client: requests signed for ``s3`` or ``sts`` go to those APIs.

With ``AWS_ENDPOINT_URL`` set, boto3's ``bedrock``, ``bedrock-runtime``, ``s3`` and ``sts`` clients
all call the same host, and their paths overlap (S3's ``/<bucket>/<key>`` can be any path, STS posts
to ``/``). What tells them apart is the service in the SigV4 credential scope (the Authorization
header's, or a presigned URL's ``X-Amz-Credential``), so that is what routes a request (S3's SigV2,
``AWS KEYID:SIG`` or ``AWSAccessKeyId=``, names no service and is S3's alone); everything
else (Bedrock, OpenAI, health) goes to the app as before. The chosen API verifies the signature for
its own service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from stillhouse.serve.sigv2 import is_sigv2
from stillhouse.serve.sigv4_parse import credential_scope

if TYPE_CHECKING:
    from fastapi import FastAPI

    from stillhouse.serve.context import ServeContext

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def signing_service(scope: dict[str, Any]) -> str | None:
    """The service an HTTP request is signed for, or None (unsigned, bearer key, unreadable)."""
    authorization = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)
    raw_query = (scope.get("query_string") or b"").decode("latin-1")
    if is_sigv2(authorization, raw_query):
        return "s3"  # SigV2 is S3's alone
    query = dict(parse_qsl(raw_query)) if not authorization else {}
    found = credential_scope(authorization, query)
    return found[2] if found else None


class ServiceDispatch:
    """ASGI middleware: a request signed for a service in ``services`` goes to that app."""

    def __init__(self, app: ASGIApp, services: dict[str, ASGIApp]) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        target = self.services.get(signing_service(scope) or "") if scope["type"] == "http" else None
        await (target or self.app)(scope, receive, send)


def mount(app: FastAPI, ctx: ServeContext) -> None:
    """Put the S3 and STS APIs in front of ``app`` (the one line app.py needs)."""
    from stillhouse.serve import s3_api, sts_api

    services = {"s3": s3_api.asgi_app(ctx), "sts": sts_api.asgi_app(ctx)}
    app.add_middleware(ServiceDispatch, services=services)  # type: ignore[arg-type]
