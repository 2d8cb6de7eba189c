"""The one translation of :mod:`stillhouse.errors` into HTTP responses, in two dialects.

Bedrock-shaped: status from the error, an ``x-amzn-ErrorType`` header and ``{"message": ...}``
(botocore reads the code from that header, so ``ClientError.response["Error"]["Code"]`` is e.g.
``AccessDeniedException``). OpenAI-shaped (paths under ``/v1``):
``{"error": {"message", "type", "code", "param"}}``. S3 and STS answer in XML with their own codes
(:func:`s3_error`, :func:`sts_error`), the SigV4 refusals renamed as those services name them.
Anything unexpected becomes a 500 whose body
says nothing about internals; malformed input is always a 400, never a 500.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from stillhouse.errors import (
    AccessDeniedError,
    IncompleteSignatureError,
    InvalidInputError,
    InvalidSignatureError,
    MissingApiKeyError,
    MissingAuthenticationTokenError,
    S3Error,
    StillhouseError,
    UnrecognizedClientError,
)

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.responses import Response

log = logging.getLogger(__name__)

_CORAL = "http://internal.amazon.com/coral/com.amazon.bedrock/"
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",  # what OpenAI answers for a missing or wrong key
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "invalid_request_error",
    424: "model_error",
    429: "rate_limit_error",
}


def describe_validation_error(exc: ValidationError, *, prefix: str = "") -> InvalidInputError:
    """A pydantic error as one InvalidInputError naming the first bad field (and how many others)."""
    errors = exc.errors(include_url=False)
    first = errors[0] if errors else {"loc": (), "msg": str(exc)}
    field = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "")
    msg = str(first["msg"])
    if first.get("type") == "extra_forbidden":
        msg = "unknown or unsupported field"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return InvalidInputError(msg + more, field=field or None)


def as_stillhouse_error(exc: Exception) -> StillhouseError:
    """Any exception as a StillhouseError: validation problems become 400s, the rest a bare 500."""
    if isinstance(exc, StillhouseError):
        return exc
    if isinstance(exc, ValidationError):
        return describe_validation_error(exc)
    if isinstance(exc, ValueError | UnicodeDecodeError):
        return InvalidInputError(f"malformed request body: {exc}")
    log.exception("unhandled error", exc_info=exc)
    return StillhouseError("internal server error")


def bedrock_error(exc: Exception) -> JSONResponse:
    """A Bedrock-shaped error response botocore parses into the right exception class."""
    from fastapi.responses import JSONResponse

    err = as_stillhouse_error(exc)
    return JSONResponse(
        {"message": str(err)},
        status_code=err.http_status,
        headers={"x-amzn-ErrorType": f"{err.code}:{_CORAL}"},
    )


def openai_error(exc: Exception) -> JSONResponse:
    """An OpenAI-shaped error response the ``openai`` client raises as the matching APIError."""
    from fastapi.responses import JSONResponse

    err = as_stillhouse_error(exc)
    return JSONResponse(openai_error_body(err), status_code=err.http_status)


def openai_error_body(exc: Exception) -> dict[str, Any]:
    """``{"error": {...}}``, the body of an OpenAI error response and of an error inside a stream."""
    err = as_stillhouse_error(exc)
    status = err.http_status
    error_type = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    body: dict[str, Any] = {
        "message": str(err),
        "type": error_type,
        "code": _openai_code(err),
        "param": err.field,
    }
    return {"error": body}


def _openai_code(err: StillhouseError) -> str | None:
    """OpenAI's ``code``: null when no key was sent, ``invalid_api_key`` for a wrong one."""
    if isinstance(err, MissingApiKeyError):
        return None
    return "invalid_api_key" if err.http_status == 401 else err.code


# The members of each Bedrock stream union an error can travel as once the stream has begun; botocore
# raises the modelled error of that name. The model failing is a modelStreamErrorException.
CONVERSE_STREAM_ERRORS = {
    "ValidationException": "validationException",
    "ThrottlingException": "throttlingException",
    "ModelNotReadyException": "throttlingException",
    "ServiceUnavailableException": "serviceUnavailableException",
    "ModelErrorException": "modelStreamErrorException",
    "ModelTimeoutException": "modelStreamErrorException",
}
INVOKE_STREAM_ERRORS = {**CONVERSE_STREAM_ERRORS, "ModelTimeoutException": "modelTimeoutException"}


def stream_exception(exc: Exception, members: dict[str, str]) -> bytes:
    """An error after a Bedrock stream began, as an event-stream exception message of its union."""
    from stillhouse.serve import eventstream

    err = as_stillhouse_error(exc)
    member = members.get(err.code, "internalServerException")
    if member == "modelStreamErrorException":
        return eventstream.exception(
            member, str(err), originalStatusCode=err.http_status, originalMessage=str(err)
        )
    return eventstream.exception(member, str(err))


def error_response(request: Request, exc: Exception) -> JSONResponse:
    """Pick the dialect by path: ``/v1/...`` speaks OpenAI, everything else Bedrock."""
    if request.url.path.startswith("/v1/") or request.url.path == "/v1":
        return openai_error(exc)
    return bedrock_error(exc)


# The SigV4 refusals as S3 and STS name them (most specific class first), and their statuses.
_S3_AUTH: list[tuple[type[StillhouseError], str, int]] = [
    (MissingAuthenticationTokenError, "AccessDenied", 403),
    (IncompleteSignatureError, "AuthorizationHeaderMalformed", 400),
    (UnrecognizedClientError, "InvalidAccessKeyId", 403),
    (InvalidSignatureError, "SignatureDoesNotMatch", 403),
    (AccessDeniedError, "AccessDenied", 403),
    (InvalidInputError, "InvalidArgument", 400),
]
_STS_AUTH: list[tuple[type[StillhouseError], str, int]] = [
    (MissingAuthenticationTokenError, "MissingAuthenticationToken", 403),
    (IncompleteSignatureError, "IncompleteSignature", 400),
    (UnrecognizedClientError, "InvalidClientTokenId", 403),
    (InvalidSignatureError, "SignatureDoesNotMatch", 403),
    (AccessDeniedError, "AccessDenied", 403),
    (InvalidInputError, "InvalidParameterValue", 400),
]


def _renamed(exc: Exception, table: list[tuple[type[StillhouseError], str, int]]) -> S3Error:
    err = as_stillhouse_error(exc)
    if isinstance(err, S3Error):
        return err
    for cls, code, status in table:
        if isinstance(err, cls):
            return S3Error(code, err.message, status)
    return S3Error("InternalError", "We encountered an internal error. Please try again.", 500)


def s3_error(exc: Exception, *, request_id: str, head: bool = False) -> Response:
    """S3's XML error (``<Error><Code>``...), with no body for HEAD (as S3 answers it)."""
    from starlette.responses import Response

    from stillhouse.serve.s3_protocol import error_document

    err = _renamed(exc, _S3_AUTH)
    headers = {"x-amz-request-id": request_id}
    if head:
        return Response(b"", err.http_status, headers=headers)
    body = error_document(err.code, err.message, err.resource, request_id)
    return Response(body, err.http_status, headers=headers, media_type="application/xml")


def sts_error(exc: Exception, *, request_id: str) -> Response:
    """STS's query-protocol error: ``<ErrorResponse><Error><Type><Code><Message>``."""
    from starlette.responses import Response

    from stillhouse.serve.s3_protocol import document

    err = _renamed(exc, _STS_AUTH)
    kind = "Sender" if err.http_status < 500 else "Receiver"
    error = [("Type", kind), ("Code", err.code), ("Message", err.message)]
    body = document(
        "ErrorResponse",
        [("Error", error), ("RequestId", request_id)],
        ns="https://sts.amazonaws.com/doc/2011-06-15/",
    )
    return Response(body, err.http_status, headers={"x-amzn-RequestId": request_id}, media_type="text/xml")


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception (ours, FastAPI's request validation, HTTP errors) through one place."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    from stillhouse.errors import NotFoundError

    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        return error_response(request, exc)

    async def on_request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(request, InvalidInputError(str(first.get("msg")), field=field or None))

    async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(
                request, NotFoundError(f"no such route: {request.method} {request.url.path}")
            )
        err = StillhouseError(str(exc.detail))
        err.http_status = exc.status_code  # type: ignore[misc]  # keep the framework's status
        err.code = "ValidationException" if exc.status_code < 500 else err.code  # type: ignore[misc]
        return error_response(request, err)

    app.add_exception_handler(StillhouseError, on_error)  # type: ignore[arg-type]
    app.add_exception_handler(ValidationError, on_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_request_validation)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, on_http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_error)
