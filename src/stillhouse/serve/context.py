"""What every route needs, built once by the app factory, and the request-level dependencies.

:class:`ServeContext` bundles the settings, the job service, the model registry and the invocation
log writer. The dependencies read the body (with its size limit) exactly once, authenticate it
(SigV4 for the Bedrock API, bearer for ``/v1``) and parse it into a strict wire model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from stillhouse.errors import AccessDeniedError, InvalidInputError
from stillhouse.serve.auth import SigV4Verifier, check_bearer
from stillhouse.serve.deployments import ModelPool, ModelRegistry
from stillhouse.serve.errors import describe_validation_error
from stillhouse.serve.logging import InvocationLogWriter
from stillhouse.serve.settings import ServerSettings
from stillhouse.serve.sigv4 import SignedRequest

if TYPE_CHECKING:
    from fastapi import Request
    from fastapi.responses import JSONResponse

    from stillhouse.jobs.service import JobService
    from stillhouse.models.foundation import FoundationTable

M = TypeVar("M", bound=BaseModel)


@dataclass
class ServeContext:
    """The server's long-lived parts (one per app)."""

    settings: ServerSettings
    jobs: JobService
    registry: ModelRegistry
    logs: InvocationLogWriter
    verifier: SigV4Verifier | None
    foundation: FoundationTable
    # The object store (the invocation logs' and the S3 API's: one store for both).
    open_store: Callable[[], Any] | None = None

    def resolve(self, model_id: str) -> tuple[ModelPool, bool]:
        """The pool serving ``model_id`` and whether a request may wait for it to load.

        Catalog models load on first use (the caller waits); a custom model must be deployed first,
        and a deployment that is still Creating answers ModelNotReady rather than hold the request.
        """
        return self.registry.resolve(model_id), self.registry.is_catalog(model_id)


def context(request: Request) -> ServeContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


async def read_body(request: Request) -> bytes:
    """The raw body, refused past ``max_body_bytes`` (checked before and while reading)."""
    limit = context(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise InvalidInputError(f"request body is {declared} bytes; the limit is {limit}", field="body")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InvalidInputError(f"request body exceeds the {limit}-byte limit", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


def signed_request(request: Request, body: bytes) -> SignedRequest:
    """The parts of an ASGI request that SigV4 covers, exactly as they came over the wire."""
    scope = request.scope
    raw_path = scope.get("raw_path") or scope["path"].encode()
    return SignedRequest(
        method=request.method,
        raw_path=raw_path.decode("latin-1").split("?", 1)[0],
        raw_query=(scope.get("query_string") or b"").decode("latin-1"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
        body=body,
    )


def verify_sigv4(request: Request, body: bytes) -> None:
    """Raise AccessDenied unless the request carries a valid SigV4 signature inside the skew window."""
    verifier = context(request).verifier
    if verifier is None:
        raise AccessDeniedError("the Bedrock API is disabled: the server has no access key configured")
    verifier.verify(signed_request(request, body))


async def authed(request: Request) -> tuple[ServeContext, bytes]:
    """A Bedrock route's first step: the body read once and its SigV4 signature checked."""
    body = await read_body(request)
    verify_sigv4(request, body)
    return context(request), body


def query(request: Request) -> dict[str, Any]:
    """The query string as a List* request (botocore sends those parameters there)."""
    return dict(request.query_params)


def json_response(model: BaseModel | None, status: int = 200) -> JSONResponse:
    """A wire model as a JSON answer, its unset fields left out (``{}`` for an empty answer)."""
    from fastapi.responses import JSONResponse

    return JSONResponse({} if model is None else model.model_dump(mode="json", exclude_none=True), status)


def verify_bearer(request: Request) -> None:
    """Raise AccessDenied unless ``Authorization: Bearer <api key>`` matches the configured key."""
    key = context(request).settings.api_key
    if key is None:
        raise AccessDeniedError("the OpenAI API is disabled: the server has no API key configured")
    check_bearer(request.headers.get("authorization"), key.get_secret_value())


def verify_any(request: Request, body: bytes) -> None:
    """Either credential: a bearer key (the OpenAI API's) or a SigV4 signature (the Bedrock API's)."""
    if (request.headers.get("authorization") or "").lower().startswith("bearer "):
        verify_bearer(request)
    else:
        verify_sigv4(request, body)


def parse_json(model: type[M], body: bytes, *, prefix: str = "") -> M:
    """A strict wire model from a JSON body; malformed JSON and bad fields are 400s naming the field."""
    if not body.strip():
        raise InvalidInputError("request body is empty; a JSON object is required", field=prefix or "body")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise describe_validation_error(exc, prefix=prefix) from exc


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Any JSON object (InvokeModel bodies are model-specific and validated afterwards)."""
    import json

    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"body is not valid JSON: {exc}", field="body") from exc
    if not isinstance(data, dict):
        raise InvalidInputError("body must be a JSON object", field="body")
    return data
