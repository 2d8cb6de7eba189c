"""Reading what a request says about its SigV4 signature, pure: the Authorization header or a
presigned URL's X-Amz-* parameters, the signing date, the signed headers it must cover, the clock
window it must fall in.

Refusals are AWS's, in its names and words: no signature at all is
``MissingAuthenticationTokenException``, a header AWS cannot read ``IncompleteSignatureException``
(400), a signature out of the window or one that leaves out a required header
``InvalidSignatureException``. A malformed value is a refusal naming why, never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from stillhouse.errors import (
    AccessDeniedError,
    IncompleteSignatureError,
    InvalidSignatureError,
    MissingAuthenticationTokenError,
)
from stillhouse.serve.sigv4 import ALGORITHM

_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_BASIC_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
MISSING_TOKEN = "Missing Authentication Token"
_REQUIRED_PARAMS = ("Credential", "Signature", "SignedHeaders")
_PRESIGNED = ("Algorithm", "Credential", "Signature", "Date", "SignedHeaders", "Expires")
_REQUIRES_DATE = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "


@dataclass(frozen=True)
class AuthHeader:
    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str | None, *, has_date: bool) -> AuthHeader:
    """The Authorization header's parts, or AWS's refusal of it: no header at all is
    ``MissingAuthenticationTokenException``, one AWS cannot read ``IncompleteSignatureException``.

    AWS's order, as it shows in its messages: every token must be a key=value pair (tokens are split
    at commas and blanks, which is why a stray space in a key id is reported as the half after it),
    then the three parameters and a date header must be there, then the algorithm must be SigV4's,
    then the credential must have its five parts."""
    header = (value or "").strip()
    if not header:
        raise MissingAuthenticationTokenError(MISSING_TOKEN)
    algorithm, _, rest = header.partition(" ")  # the value comes with its blanks collapsed
    params: dict[str, str] = {}
    for token in re.split(r"[,\s]+", rest):
        if not token:
            continue
        key, eq, val = token.partition("=")
        if not eq:
            raise IncompleteSignatureError(
                f"'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: "
                f"'{header}'."
            )
        params.setdefault(key, val)
    missing = [
        f"Authorization header requires '{p}' parameter. " for p in _REQUIRED_PARAMS if not params.get(p)
    ]
    if missing or not has_date:
        raise IncompleteSignatureError(
            "".join(missing) + ("" if has_date else _REQUIRES_DATE) + f"Authorization={header}"
        )
    if algorithm != ALGORITHM:
        raise IncompleteSignatureError(f"Unsupported AWS 'algorithm': '{algorithm}'.")
    parts = params["Credential"].split("/")
    if len(parts) != 5:
        raise IncompleteSignatureError(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/"
            f"term, got '{params['Credential']}'"
        )
    signed = tuple(params["SignedHeaders"].split(";"))
    return AuthHeader(*parts, signed_headers=signed, signature=params["Signature"])


def credential_scope(authorization: str | None, query: dict[str, str]) -> tuple[str, str, str] | None:
    """``(access key id, region, service)`` a request says it is signed for (its Authorization
    header's Credential, or a presigned URL's X-Amz-Credential), or None; unchecked: it routes a
    request to the service that will verify it."""
    credential = query.get("X-Amz-Credential", "")
    if authorization and authorization.strip().startswith(ALGORITHM):
        found = re.search(r"Credential=([^,\s]*)", authorization)
        credential = found.group(1) if found else ""
    parts = credential.split("/")
    return (parts[0], parts[2], parts[3]) if len(parts) == 5 else None


def is_presigned(raw_query: str) -> bool:
    """Whether a query string carries a presigned URL's credential or signature (query-string auth)."""
    return any(p.startswith(("X-Amz-Signature=", "X-Amz-Credential=")) for p in raw_query.split("&"))


def parse_presigned(raw_query: str, now: datetime, max_skew_s: int) -> tuple[AuthHeader, str]:
    """A presigned URL's X-Amz-* parameters as an Authorization header's parts, and its date;
    refused (S3's words) when one is missing, the URL has expired or is dated in the future."""
    params = {unquote(k): unquote(v) for k, _, v in (p.partition("=") for p in raw_query.split("&"))}
    if any(not params.get(f"X-Amz-{name}") for name in _PRESIGNED):
        raise IncompleteSignatureError(
            "Query-string authentication requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise IncompleteSignatureError(f"Unsupported AWS 'algorithm': '{params['X-Amz-Algorithm']}'.")
    parts = params["X-Amz-Credential"].split("/")
    if len(parts) != 5:
        raise IncompleteSignatureError(
            f"Credential must have exactly 5 slash-delimited elements, got '{parts}'"
        )
    amz_date, expires = params["X-Amz-Date"], params["X-Amz-Expires"]
    signed_at = parse_amz_date(amz_date)
    if not expires.isdigit() or not 1 <= int(expires) <= 604800:
        raise AccessDeniedError("X-Amz-Expires must be between 1 and 604800 seconds")
    if now > signed_at + timedelta(seconds=int(expires)):
        raise AccessDeniedError("Request has expired")
    check_skew(max(signed_at, now), amz_date, now, max_skew_s)  # refuses only a date in the future
    signed = tuple(params["X-Amz-SignedHeaders"].split(";"))
    if "host" not in signed:
        raise InvalidSignatureError("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    return AuthHeader(*parts, signed_headers=signed, signature=params["X-Amz-Signature"]), amz_date


def parse_amz_date(amz_date: str) -> datetime:
    """X-Amz-Date as a UTC time; exactly ``YYYYMMDDTHHMMSSZ`` (strptime alone takes one-digit fields)."""
    refusal = IncompleteSignatureError(
        f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
    )
    if not _BASIC_DATE.fullmatch(amz_date):
        raise refusal
    try:
        return datetime.strptime(amz_date, _AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise refusal from exc


def check_signed_headers(signed: Sequence[str]) -> None:
    """Host and X-Amz-Date must be covered by the signature (AWS's wording for a header it requires)."""
    for name, shown in (("host", "'Host' or ':authority'"), ("x-amz-date", "'X-Amz-Date'")):
        if name not in signed:
            raise InvalidSignatureError(f"{shown} must be a 'SignedHeader' in the AWS Authorization.")


def check_skew(signed_at: datetime, amz_date: str, now: datetime, max_skew_s: int) -> None:
    """Refuse a signature outside the window, in AWS's words (``InvalidSignatureException``)."""
    window = timedelta(seconds=max_skew_s)
    minutes = f"{max_skew_s // 60} min." if max_skew_s % 60 == 0 else f"{max_skew_s} s"

    def stamp(at: datetime) -> str:
        return at.strftime(_AMZ_DATE_FORMAT)

    if signed_at < now - window:
        raise InvalidSignatureError(
            f"Signature expired: {amz_date} is now earlier than {stamp(now - window)} "
            f"({stamp(now)} - {minutes})"
        )
    if signed_at > now + window:
        raise InvalidSignatureError(
            f"Signature not yet current: {amz_date} is still later than {stamp(now + window)} "
            f"({stamp(now)} + {minutes})"
        )
