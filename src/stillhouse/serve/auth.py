"""Request authentication: AWS Signature Version 4 for the Bedrock API (and S3's Version 2,
:mod:`stillhouse.serve.sigv2`), a bearer key for ``/v1``.

SigV4 verification reads the request's signature (:mod:`stillhouse.serve.sigv4_parse`), rebuilds its
canonical request (:mod:`stillhouse.serve.sigv4`), derives the signing key from the configured secret,
and compares signatures in constant time. It also refuses requests signed further than the allowed
skew from the server clock, and nothing else: AWS bounds replays by that window only, and botocore
signs with one-second resolution, so identical requests in the same second (concurrent calls,
retries) carry the same signature and are all served; idempotency comes from ``clientRequestToken``.
Pure apart from the clock, so it is tested against botocore's own signer without a server.
Refusals are AWS's, in its names and words: a credential scoped to another region, service or date,
a signature that does not match or one out of the window ``InvalidSignatureException``, an unknown
access key id ``UnrecognizedClientException`` (the header's own refusals are sigv4_parse's).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime

from stillhouse.errors import (
    AccessDeniedError,
    InvalidApiKeyError,
    InvalidSignatureError,
    MissingApiKeyError,
    UnrecognizedClientError,
)
from stillhouse.serve import sigv2
from stillhouse.serve.settings import ENV_API_KEY
from stillhouse.serve.sigv4 import (
    SignedRequest,
    canonical_request,
    header_values,
    signature,
    signature_mismatch,
)
from stillhouse.serve.sigv4_parse import (
    AuthHeader,
    check_signed_headers,
    check_skew,
    is_presigned,
    parse_amz_date,
    parse_authorization,
    parse_presigned,
)

_TERMINATOR = "aws4_request"
# AWS's own words (bedrock and bedrock-runtime alike), as sigv4.SIGNATURE_MISMATCH.
UNRECOGNIZED_CLIENT = "The security token included in the request is invalid."


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
        amz_date = next(iter(header_values(request.headers, "x-amz-date")), "")
        authorization = next(iter(header_values(request.headers, "authorization")), None)
        if authorization is None and is_presigned(request.raw_query):
            auth, amz_date = parse_presigned(request.raw_query, self._clock(), self._max_skew)
            kept = [p for p in request.raw_query.split("&") if not p.startswith("X-Amz-Signature=")]
            request = dataclasses.replace(request, raw_query="&".join(kept))
            payload = "UNSIGNED-PAYLOAD" if auth.service == "s3" else self._payload_hash(request)
        else:
            auth = parse_authorization(authorization, has_date=bool(amz_date))
            signed_at = parse_amz_date(amz_date)
            check_signed_headers(auth.signed_headers)
            check_skew(signed_at, amz_date, self._clock(), self._max_skew)
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

    def verify_v2(self, request: SignedRequest, *, bucket: str | None = None) -> str:
        """The access key id of an S3 request signed with SigV2 (a presigned URL inside its expiry,
        or the header within the skew window), else S3's refusal (:mod:`stillhouse.serve.sigv2`).
        ``bucket``: the one a virtual-hosted request names in its Host (SigV2 signs it in the path)."""
        signed = sigv2.read(request, self._clock(), self._max_skew, bucket)
        if not _same(signed.access_key_id, self._key_id):
            raise UnrecognizedClientError(sigv2.UNKNOWN_KEY)
        if not _same(signed.signature, sigv2.signature(self._secret, signed.string_to_sign)):
            raise InvalidSignatureError(sigv2.SIGNATURE_MISMATCH)
        return signed.access_key_id

    def _check_scope(self, auth: AuthHeader, amz_date: str, services: tuple[str, ...]) -> None:
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
        declared = header_values(request.headers, "x-amz-content-sha256")
        if declared and declared[0] != actual:
            # Also refuses UNSIGNED-PAYLOAD: this server never accepts a body it cannot check.
            raise AccessDeniedError("X-Amz-Content-SHA256 does not match the request body")
        return actual


def _same(given: str, expected: str) -> bool:
    """Constant-time equality of two strings of any characters (``compare_digest`` on ``str``
    raises TypeError for non-ASCII ones, which an unauthenticated caller controls)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
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
