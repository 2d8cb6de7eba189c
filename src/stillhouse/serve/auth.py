"""Request authentication: AWS Signature Version 4 for the Bedrock API, a bearer key for ``/v1``.

SigV4 verification rebuilds the canonical request exactly as AWS documents it (and as botocore signs
it), derives the signing key from the configured secret, and compares signatures in constant time.
It also refuses requests signed further than the allowed skew from the server clock, and nothing
else: AWS bounds replays by that window only, and botocore signs with one-second resolution, so
identical requests in the same second (concurrent calls, retries) carry the same signature and are
all served; idempotency comes from ``clientRequestToken``. Pure apart from the clock, so it is tested
against botocore's own signer without a server. Every comparison is on bytes: a header may carry
any character, and a malformed one is a refusal naming why, never a crash. Refusals are AWS's, in
its names and words: no signature at all is ``MissingAuthenticationTokenException``, a header AWS
cannot read ``IncompleteSignatureException`` (400), a credential scoped to another region, service
or date, a signature that does not match or one out of the window ``InvalidSignatureException``, an
unknown access key id ``UnrecognizedClientException``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

from stillhouse.errors import (
    AccessDeniedError,
    IncompleteSignatureError,
    InvalidApiKeyError,
    InvalidSignatureError,
    MissingApiKeyError,
    MissingAuthenticationTokenError,
    UnrecognizedClientError,
)
from stillhouse.serve.settings import ENV_API_KEY

ALGORITHM = "AWS4-HMAC-SHA256"
_TERMINATOR = "aws4_request"
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_BASIC_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
# AWS's own words (bedrock and bedrock-runtime alike), so a client's error handling and a search
# for the message lead where they would for AWS.
UNRECOGNIZED_CLIENT = "The security token included in the request is invalid."
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
MISSING_TOKEN = "Missing Authentication Token"
_REQUIRED_PARAMS = ("Credential", "Signature", "SignedHeaders")
_PRESIGNED = ("Algorithm", "Credential", "Signature", "Date", "SignedHeaders", "Expires")
_REQUIRES_DATE = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "


@dataclass(frozen=True)
class SignedRequest:
    """What verification needs from an HTTP request, as it came over the wire.

    ``raw_path`` is the still percent-encoded path and ``raw_query`` the query string without '?':
    the canonical request is computed from the encoded form, so decoding first would break ARNs.
    ``headers`` keeps repeats, names in any case. ``payload_hash``, when given, is the body's
    declared hash to sign with instead of hashing ``body``: S3 bodies are streamed to disk after the
    signature is checked, and the S3 API compares their hash (or trailing checksum) itself.
    """

    method: str
    raw_path: str
    raw_query: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    payload_hash: str | None = None


@dataclass(frozen=True)
class _AuthHeader:
    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str


def _parse_authorization(value: str | None, *, has_date: bool) -> _AuthHeader:
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
    return _AuthHeader(*parts, signed_headers=signed, signature=params["Signature"])


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


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 dot-segment removal, also collapsing repeated slashes (as AWS requires)."""
    out: list[str] = []
    for seg in path.split("/"):
        if seg == "..":
            if out:
                out.pop()
        elif seg and seg != ".":
            out.append(seg)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last


def canonical_uri(raw_path: str, *, service: str = "bedrock") -> str:
    """The path as botocore canonicalises it: dot segments removed, then URI-encoded once more;
    for S3 the path exactly as sent (S3 keys may hold '//' and '..', and are encoded once)."""
    if service == "s3":
        return raw_path or "/"
    return quote(_remove_dot_segments(raw_path) if raw_path else "/", safe="/~")


def canonical_query(raw_query: str) -> str:
    """Query pairs decoded, re-encoded with the SigV4 unreserved set, sorted by key then value."""
    if not raw_query:
        return ""
    pairs = []
    for item in raw_query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _header_values(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    return [" ".join(v.split()) for k, v in headers if k.lower() == name]


def canonical_request(
    request: SignedRequest, signed_headers: Sequence[str], payload_hash: str, *, service: str = "bedrock"
) -> str:
    """The SigV4 canonical request for the given signed header names."""
    lines = []
    for name in signed_headers:
        values = _header_values(request.headers, name)
        if not values:
            raise IncompleteSignatureError(
                f"'{name}' is named as a SignedHeader, but it does not exist in the HTTP request."
            )
        lines.append(f"{name}:{','.join(values)}")
    return "\n".join(
        [
            request.method.upper(),
            canonical_uri(request.raw_path, service=service),
            canonical_query(request.raw_query),
            "\n".join(lines) + "\n",
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def string_to_sign(amz_date: str, region: str, service: str, canonical: str) -> str:
    """The SigV4 string to sign: algorithm, date, credential scope and the canonical request's hash."""
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    return "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()])


def signature(secret: str, amz_date: str, region: str, service: str, canonical: str) -> str:
    """Hex signature of a canonical request (AWS4 key derivation: date, region, service)."""
    key = _hmac(f"AWS4{secret}".encode(), amz_date[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    to_sign = string_to_sign(amz_date, region, service, canonical)
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def signature_mismatch(amz_date: str, region: str, service: str, canonical: str) -> InvalidSignatureError:
    """AWS's refusal of a signature that does not match: its sentence, then what the server computed
    (both derived from the request alone, no secret), which is how a caller finds a proxy that
    rewrote a signed header."""
    return InvalidSignatureError(
        f"{SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have been\n"
        f"'{canonical}'\n\nThe String-to-Sign should have been\n"
        f"'{string_to_sign(amz_date, region, service, canonical)}'\n"
    )


class SigV4Verifier:
    """Verifies requests signed with one configured key pair for service ``bedrock`` (or the one
    :meth:`verify` is told: ``s3``, ``sts``, routed by :mod:`stillhouse.serve.dispatch`); with a
    ``region``, only credentials scoped to it (as one regional AWS endpoint does). Without one, any
    region is accepted: one self-hosted server stands in for every regional endpoint, so a notebook
    keeps its own region and needs only ``AWS_ENDPOINT_URL``.

    Refusals come in this order (AWS's, as far as its messages show it): the header's form
    (``IncompleteSignatureException``, 400), the signed headers, the clock and the credential scope
    (``InvalidSignatureException``), the key id (``UnrecognizedClientException``), the signature.
    """

    def __init__(
        self,
        access_key_id: str,
        secret_access_key: str,
        *,
        region: str | None = None,
        max_skew_s: int = 300,
        services: tuple[str, ...] = ("bedrock",),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._key_id = access_key_id
        self._secret = secret_access_key
        self._region = region
        self._max_skew = max_skew_s
        self._services = services
        self._clock = clock

    def verify(self, request: SignedRequest, *, service: str | None = None) -> str:
        """Return the access key id of a correctly signed request inside the skew window, else raise.
        ``service``: the one service the credential must be scoped to (default: the configured ones).
        A presigned URL (query-string auth) is checked the same way, with its expiry."""
        amz_date = next(iter(_header_values(request.headers, "x-amz-date")), "")
        authorization = next(iter(_header_values(request.headers, "authorization")), None)
        if authorization is None and is_presigned(request.raw_query):
            auth, amz_date = _parse_presigned(request.raw_query, self._clock(), self._max_skew)
            kept = [p for p in request.raw_query.split("&") if not p.startswith("X-Amz-Signature=")]
            request = dataclasses.replace(request, raw_query="&".join(kept))
            payload = "UNSIGNED-PAYLOAD" if auth.service == "s3" else self._payload_hash(request)
        else:
            auth = _parse_authorization(authorization, has_date=bool(amz_date))
            signed_at = _parse_amz_date(amz_date)
            _check_signed_headers(auth.signed_headers)
            _check_skew(signed_at, amz_date, self._clock(), self._max_skew)
            payload = (
                request.payload_hash if request.payload_hash is not None else self._payload_hash(request)
            )
        self._check_scope(auth, amz_date, (service,) if service else self._services)
        if not _same(auth.access_key_id, self._key_id):
            raise UnrecognizedClientError(UNRECOGNIZED_CLIENT)
        canonical = canonical_request(request, auth.signed_headers, payload, service=auth.service)
        expected = signature(self._secret, amz_date, auth.region, auth.service, canonical)
        if not _same(expected, auth.signature):
            raise signature_mismatch(amz_date, auth.region, auth.service, canonical)
        return auth.access_key_id

    def _check_scope(self, auth: _AuthHeader, amz_date: str, services: tuple[str, ...]) -> None:
        """The credential scope names this server's region, a served service, SigV4's terminator and
        the request's date; AWS lists every clause that fails in one message."""
        wrong = []
        if self._region is not None and auth.region != self._region:
            wrong.append(f"Credential should be scoped to a valid region, not '{auth.region}'. ")
        if auth.service not in services:
            wrong.append(f"Credential should be scoped to correct service: '{services[0]}'. ")
        if auth.terminator != _TERMINATOR:
            wrong.append(
                f"Credential should be scoped with a valid terminator: '{_TERMINATOR}', "
                f"not '{auth.terminator}'. "
            )
        if auth.date != amz_date[:8]:
            wrong.append(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                f"HTTP: '{auth.date}' != '{amz_date[:8]}', from '{amz_date}'."
            )
        if wrong:
            raise InvalidSignatureError("".join(wrong))

    @staticmethod
    def _payload_hash(request: SignedRequest) -> str:
        actual = hashlib.sha256(request.body).hexdigest()
        declared = _header_values(request.headers, "x-amz-content-sha256")
        if declared and declared[0] != actual:
            # Also refuses UNSIGNED-PAYLOAD: this server never accepts a body it cannot check.
            raise AccessDeniedError("X-Amz-Content-SHA256 does not match the request body")
        return actual


def _parse_presigned(raw_query: str, now: datetime, max_skew_s: int) -> tuple[_AuthHeader, str]:
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
    signed_at = _parse_amz_date(amz_date)
    if not expires.isdigit() or not 1 <= int(expires) <= 604800:
        raise AccessDeniedError("X-Amz-Expires must be between 1 and 604800 seconds")
    if now > signed_at + timedelta(seconds=int(expires)):
        raise AccessDeniedError("Request has expired")
    _check_skew(max(signed_at, now), amz_date, now, max_skew_s)  # refuses only a date in the future
    signed = tuple(params["X-Amz-SignedHeaders"].split(";"))
    if "host" not in signed:
        raise InvalidSignatureError("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    return _AuthHeader(*parts, signed_headers=signed, signature=params["X-Amz-Signature"]), amz_date


def _parse_amz_date(amz_date: str) -> datetime:
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


def _check_signed_headers(signed: Sequence[str]) -> None:
    """Host and X-Amz-Date must be covered by the signature (AWS's wording for a header it requires)."""
    for name, shown in (("host", "'Host' or ':authority'"), ("x-amz-date", "'X-Amz-Date'")):
        if name not in signed:
            raise InvalidSignatureError(f"{shown} must be a 'SignedHeader' in the AWS Authorization.")


def _same(given: str, expected: str) -> bool:
    """Constant-time equality of two strings of any characters (``compare_digest`` on ``str``
    raises TypeError for non-ASCII ones, which an unauthenticated caller controls)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _check_skew(signed_at: datetime, amz_date: str, now: datetime, max_skew_s: int) -> None:
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


# OpenAI's sentences, except that where OpenAI points at its dashboard this says where the key of a
# stillhouse server comes from.
_WHERE_THE_KEY_IS = f"You can find your API key in the server's {ENV_API_KEY} (stillhouse serve --api-key)."
NO_API_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    f"using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). {_WHERE_THE_KEY_IS}"
)


def masked_key(key: str) -> str:
    """A wrong key as OpenAI quotes it, its first 8 and last 4 characters with '*' between. Keys of
    24 characters or fewer are all '*' (OpenAI quotes a short key whole; here at least half of any
    key stays hidden, so a message never carries most of a secret the caller mistyped)."""
    if len(key) <= 24:
        return "*" * len(key)
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


def check_bearer(authorization: str | None, api_key: str) -> None:
    """Accept ``Authorization: Bearer <api_key>`` only (constant-time comparison).

    Refusals are OpenAI's 401s: no key is code null ("You didn't provide an API key"), a wrong one
    ``invalid_api_key`` ("Incorrect API key provided: <masked key>").
    """
    given = authorization[7:].strip() if authorization else ""
    if not authorization or not authorization.lower().startswith("bearer ") or not given:
        raise MissingApiKeyError(NO_API_KEY)
    if not _same(given, api_key):
        raise InvalidApiKeyError(f"Incorrect API key provided: {masked_key(given)}. {_WHERE_THE_KEY_IS}")
