"""The SigV4 signing algorithm, pure: a request's canonical form, the string to sign, the signature.

The canonical request is rebuilt exactly as AWS documents it and as botocore signs it (dot segments
removed and the path encoded once more, S3's path as sent; query pairs re-encoded and sorted; signed
headers with their blanks collapsed). Every comparison is on the request's own text: a header may
carry any character. :mod:`stillhouse.serve.sigv4_parse` reads what a request says about its
signature, :mod:`stillhouse.serve.auth` verifies it with the configured secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

from stillhouse.errors import IncompleteSignatureError, InvalidSignatureError

ALGORITHM = "AWS4-HMAC-SHA256"
# AWS's own words (bedrock and bedrock-runtime alike), so a client's error handling and a search
# for the message lead where they would for AWS.
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)


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


def header_values(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    """Every value of header ``name`` (lower case), blanks collapsed as SigV4 signs them."""
    return [" ".join(v.split()) for k, v in headers if k.lower() == name]


def canonical_request(
    request: SignedRequest, signed_headers: Sequence[str], payload_hash: str, *, service: str = "bedrock"
) -> str:
    """The SigV4 canonical request for the given signed header names."""
    lines = []
    for name in signed_headers:
        values = header_values(request.headers, name)
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
