"""SigV4 verification against botocore's own signer, and the bearer check."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from stillhouse.errors import (
    AccessDeniedError,
    InvalidApiKeyError,
    InvalidSignatureError,
    MissingApiKeyError,
    MissingAuthenticationTokenError,
    UnrecognizedClientError,
)
from stillhouse.serve.auth import UNRECOGNIZED_CLIENT, SigV4Verifier, check_bearer, masked_key
from stillhouse.serve.sigv4 import SIGNATURE_MISMATCH, SignedRequest, canonical_query, canonical_uri

KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ARN_PATH = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A000000000000%3Acustom-model%2Frouter-abc/converse"


def sign(
    method: str,
    url: str,
    body: bytes = b"",
    *,
    secret: str = SECRET,
    region: str = "us-east-1",
    headers: dict[str, str] | None = None,
) -> SignedRequest:
    """Sign with botocore exactly as a boto3 client does, then view it as the server receives it."""
    req = AWSRequest(
        method=method, url=url, data=body, headers={"Content-Type": "application/json", **(headers or {})}
    )
    SigV4Auth(Credentials(KEY, secret), "bedrock", region).add_auth(req)
    parts = urlsplit(url)
    wire = [(k, v) for k, v in req.headers.items()] + [("host", parts.netloc)]
    return SignedRequest(method=method, raw_path=parts.path, raw_query=parts.query, headers=wire, body=body)


def verifier(**kw: object) -> SigV4Verifier:
    return SigV4Verifier(KEY, SECRET, **kw)  # type: ignore[arg-type]


def test_botocore_signed_post_with_encoded_arn_verifies() -> None:
    req = sign("POST", "http://127.0.0.1:8080" + ARN_PATH, b'{"messages": []}')
    assert verifier().verify(req) == KEY


def test_botocore_signed_get_with_query_verifies() -> None:
    url = "http://localhost:9999/model-customization-jobs?statusEquals=Completed&maxResults=5&nameContains=a%20b"
    assert verifier().verify(sign("GET", url)) == KEY


def sign_seeing_strings(method: str, url: str, body: bytes, *, secret: str) -> tuple[SignedRequest, str, str]:
    """A request signed as ``sign`` does, with the canonical request and string to sign botocore
    computed for it (the ones AWS quotes back when a signature does not match)."""
    req = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    auth = SigV4Auth(Credentials(KEY, secret), "bedrock", "us-east-1")
    auth.add_auth(req)
    parts = urlsplit(url)
    wire = [(k, v) for k, v in req.headers.items()] + [("host", parts.netloc)]
    del req.headers["Authorization"]  # botocore computes its strings before adding this header
    canonical = auth.canonical_request(req)
    signed = SignedRequest(method=method, raw_path=parts.path, raw_query=parts.query, headers=wire, body=body)
    return signed, canonical, auth.string_to_sign(req, canonical)


def test_wrong_secret_is_invalid_signature_in_aws_words() -> None:
    """AWS's answer: InvalidSignatureException, its sentence, then the canonical string and string
    to sign it computed, which for a wrong secret are botocore's own."""
    req, canonical, to_sign = sign_seeing_strings("POST", "http://h" + ARN_PATH, b"{}", secret="wrong")
    with pytest.raises(InvalidSignatureError) as err:
        verifier().verify(req)
    assert err.value.code == "InvalidSignatureException" and err.value.http_status == 403
    assert str(err.value) == (
        "The request signature we calculated does not match the signature you provided. Check your AWS "
        "Secret Access Key and signing method. Consult the service documentation for details.\n\n"
        f"The Canonical String for this request should have been\n'{canonical}'\n\n"
        f"The String-to-Sign should have been\n'{to_sign}'\n"
    )


def test_unknown_key_id_is_unrecognized_client_in_aws_words() -> None:
    with pytest.raises(UnrecognizedClientError) as err:
        SigV4Verifier("OTHERKEY", SECRET).verify(sign("GET", "http://h/custom-models"))
    assert str(err.value) == "The security token included in the request is invalid."
    assert err.value.code == "UnrecognizedClientException" and err.value.http_status == 403


def test_unknown_key_id_is_refused_before_the_signature_is_checked() -> None:
    """AWS names the unknown key, not the signature, when both are wrong."""
    req = sign("GET", "http://h/custom-models", secret="not-the-secret")
    with pytest.raises(UnrecognizedClientError):
        SigV4Verifier("OTHERKEY", SECRET).verify(req)


def test_tampered_body_is_refused() -> None:
    req = sign("POST", "http://h" + ARN_PATH, b'{"a": 1}')
    forged = SignedRequest(req.method, req.raw_path, req.raw_query, req.headers, b'{"a": 2}')
    with pytest.raises(InvalidSignatureError, match=f"^{SIGNATURE_MISMATCH}"):
        verifier().verify(forged)


def test_tampered_path_is_refused_quoting_the_path_the_server_saw() -> None:
    req = sign("GET", "http://h/custom-models/a")
    with pytest.raises(InvalidSignatureError) as err:
        verifier().verify(SignedRequest(req.method, "/custom-models/b", "", req.headers, b""))
    assert str(err.value).startswith(SIGNATURE_MISMATCH)
    assert "should have been\n'GET\n/custom-models/b\n" in str(err.value)


def test_unsigned_request_is_missing_authentication_token() -> None:
    """No Authorization header and no X-Amz-Date: AWS's MissingAuthenticationTokenException, 403."""
    req = SignedRequest("GET", "/custom-models", "", [("host", "h")], b"")
    with pytest.raises(MissingAuthenticationTokenError) as err:
        verifier().verify(req)
    assert str(err.value) == "Missing Authentication Token"
    assert err.value.code == "MissingAuthenticationTokenException" and err.value.http_status == 403


def test_stale_request_is_refused() -> None:
    req = sign("GET", "http://h/custom-models")
    later = datetime.now(UTC) + timedelta(minutes=6)
    amz = dict(req.headers)["X-Amz-Date"]
    pattern = (
        rf"^Signature expired: {amz} is now earlier than \d{{8}}T\d{{6}}Z \(\d{{8}}T\d{{6}}Z - 5 min\.\)$"
    )
    with pytest.raises(InvalidSignatureError, match=pattern) as err:
        verifier(clock=lambda: later).verify(req)
    assert err.value.code == "InvalidSignatureException" and err.value.http_status == 403
    # Within the 5-minute window it passes.
    verifier(clock=lambda: datetime.now(UTC) + timedelta(minutes=4)).verify(req)


def test_request_from_the_future_is_refused() -> None:
    req = sign("GET", "http://h/custom-models")
    earlier = datetime.now(UTC) - timedelta(minutes=6)
    with pytest.raises(InvalidSignatureError, match="Signature not yet current: .* is still later than"):
        verifier(clock=lambda: earlier).verify(req)
    verifier(clock=lambda: datetime.now(UTC) - timedelta(minutes=4)).verify(req)


def test_identical_signed_writes_are_all_served() -> None:
    """botocore signs with 1-second resolution: identical POSTs in one second share a signature.
    Bedrock serves them all (concurrent calls, idempotent retries), and so does a restarted server."""
    req = sign("POST", "http://h" + ARN_PATH, b"{}")
    v = verifier()
    for _ in range(50):
        assert v.verify(req) == KEY
    assert verifier().verify(req) == KEY  # a fresh verifier (a restart) remembers nothing to refuse


@pytest.mark.parametrize("key_id", ["AKIDÉXAMPLE", "\u2603", "AKID\udcff", "ключ"])
def test_non_ascii_access_key_id_is_refused_not_a_crash(key_id: str) -> None:
    req = sign("GET", "http://h/custom-models")
    auth = dict(req.headers)["Authorization"].replace(f"Credential={KEY}/", f"Credential={key_id}/")
    headers = [(k, auth if k == "Authorization" else v) for k, v in req.headers]
    forged = SignedRequest(req.method, req.raw_path, req.raw_query, headers, b"")
    with pytest.raises(UnrecognizedClientError, match=f"^{UNRECOGNIZED_CLIENT}$"):
        verifier().verify(forged)


def test_non_ascii_bearer_is_refused_not_a_crash() -> None:
    with pytest.raises(InvalidApiKeyError, match=r"^Incorrect API key provided: \*{5}\. "):
        check_bearer("Bearer sk-é\udcff", "sk-1")


def test_unsigned_payload_is_refused() -> None:
    req = sign("POST", "http://h" + ARN_PATH, b"{}", headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    with pytest.raises(AccessDeniedError, match="Content-SHA256"):
        verifier().verify(req)


def test_declared_payload_hash_must_match() -> None:
    body = b'{"x": 1}'
    req = sign(
        "POST",
        "http://h" + ARN_PATH,
        body,
        headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()},
    )
    assert verifier().verify(req) == KEY


def test_canonical_forms_match_aws_rules() -> None:
    assert canonical_uri("/a/./b/../c//d/") == "/a/c/d/"
    assert canonical_uri("/model/arn%3Aaws/x") == "/model/arn%253Aaws/x"
    assert canonical_query("b=2&a=1&a=0&c=x%20y") == "a=0&a=1&b=2&c=x%20y"


def test_bearer() -> None:
    check_bearer("Bearer sk-1", "sk-1")
    for bad in (None, "", "Basic sk-1", "Bearer sk-2", "Bearer ", "Bearer"):
        with pytest.raises(InvalidApiKeyError) as err:
            check_bearer(bad, "sk-1")
        assert err.value.http_status == 401


@pytest.mark.parametrize("header", [None, "", "Basic sk-1", "Bearer ", "Bearer", "Bearer \t ", "bearer"])
def test_no_bearer_key_is_openais_you_didnt_provide(header: str | None) -> None:
    with pytest.raises(MissingApiKeyError) as err:
        check_bearer(header, "sk-1")
    assert str(err.value).startswith(
        "You didn't provide an API key. You need to provide your API key in an Authorization header "
        "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). "
    )
    assert "STILLHOUSE_API_KEY" in str(err.value)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_wrong_bearer_key_is_openais_incorrect_key_masked(scheme: str) -> None:
    wrong = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789MxYA"
    with pytest.raises(InvalidApiKeyError) as err:
        check_bearer(f"{scheme} {wrong}", "sk-1")
    assert type(err.value) is InvalidApiKeyError
    assert str(err.value).startswith(f"Incorrect API key provided: sk-proj-{'*' * 36}MxYA. ")
    assert wrong not in str(err.value) and "STILLHOUSE_API_KEY" in str(err.value)


def test_masked_key_hides_at_least_half_of_any_key() -> None:
    assert masked_key("sk-PMafP" + "x" * 39 + "E873") == "sk-PMafP" + "*" * 39 + "E873"  # OpenAI's form
    assert masked_key("sk-wrong") == "********"
    assert masked_key("a" * 24) == "*" * 24
    assert masked_key("b" * 25) == "b" * 8 + "*" * 13 + "b" * 4
    assert masked_key("") == ""


def test_identical_reads_are_not_replays() -> None:
    """botocore resends byte-identical signed GETs within a second (polling, retries): allowed."""
    v = verifier()
    req = sign("GET", "http://h/model-customization-jobs/x")
    v.verify(req)
    v.verify(req)
