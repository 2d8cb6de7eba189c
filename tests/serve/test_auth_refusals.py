"""Each way a SigV4 request can be refused, with AWS's code, status and words for it: no signature at
all, an Authorization header AWS cannot read, a credential scoped to the wrong region, service or
date, a required header left unsigned."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from stillhouse.errors import (
    IncompleteSignatureError,
    InvalidSignatureError,
    MissingAuthenticationTokenError,
)
from stillhouse.serve.auth import SigV4Verifier
from stillhouse.serve.sigv4 import SignedRequest

KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
URL = "http://h/custom-models"


def signed(service: str = "bedrock", region: str = "us-east-1") -> SignedRequest:
    """A GET signed by botocore exactly as a boto3 client signs it."""
    req = AWSRequest(method="GET", url=URL, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(KEY, SECRET), service, region).add_auth(req)
    wire = [*req.headers.items(), ("host", urlsplit(URL).netloc)]
    return SignedRequest("GET", "/custom-models", "", wire, b"")


def replaced(req: SignedRequest, name: str, value: str | None) -> SignedRequest:
    """``req`` with header ``name`` set to ``value`` (``None``: removed)."""
    headers = [(k, v) for k, v in req.headers if k.lower() != name.lower()]
    headers += [] if value is None else [(name, value)]
    return SignedRequest(req.method, req.raw_path, req.raw_query, headers, req.body)


def header(req: SignedRequest, name: str) -> str:
    return next(v for k, v in req.headers if k.lower() == name.lower())


def refusal(req: SignedRequest, verifier: SigV4Verifier | None = None) -> Exception:
    with pytest.raises(Exception) as err:
        (verifier or SigV4Verifier(KEY, SECRET)).verify(req)
    return err.value


@pytest.mark.parametrize("value", [None, "", "   "])
def test_no_authorization_is_missing_authentication_token(value: str | None) -> None:
    """Unsigned, with or without an X-Amz-Date: AWS's 403 MissingAuthenticationTokenException."""
    for req in (signed(), replaced(signed(), "X-Amz-Date", None)):
        err = refusal(replaced(req, "Authorization", value))
        assert type(err) is MissingAuthenticationTokenError
        assert str(err) == "Missing Authentication Token"
        assert (err.code, err.http_status) == ("MissingAuthenticationTokenException", 403)


def incomplete(req: SignedRequest) -> str:
    err = refusal(req)
    assert type(err) is IncompleteSignatureError
    assert (err.code, err.http_status) == ("IncompleteSignatureException", 400)
    return str(err)


def test_missing_parameters_are_each_named_then_the_header_quoted() -> None:
    req = signed()
    credential = header(req, "Authorization").split(",")[0]  # "AWS4-HMAC-SHA256 Credential=..."
    assert incomplete(replaced(req, "Authorization", credential)) == (
        "Authorization header requires 'Signature' parameter. Authorization header requires "
        f"'SignedHeaders' parameter. Authorization={credential}"
    )
    assert incomplete(replaced(req, "Authorization", "AWS4-HMAC-SHA256")) == (
        "Authorization header requires 'Credential' parameter. Authorization header requires "
        "'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. "
        "Authorization=AWS4-HMAC-SHA256"
    )


def test_an_empty_parameter_is_a_missing_one() -> None:
    auth = header(signed(), "Authorization")
    no_signature = auth.split("Signature=")[0] + "Signature="
    assert incomplete(replaced(signed(), "Authorization", no_signature)) == (
        f"Authorization header requires 'Signature' parameter. Authorization={no_signature}"
    )


def test_no_date_header_is_named_after_the_parameters() -> None:
    req = replaced(signed(), "X-Amz-Date", None)
    assert incomplete(req) == (
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        f"Authorization={header(req, 'Authorization')}"
    )


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer sk-123", "sk-123"),
        ("Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        # A blank pasted into the key id: AWS reports the half after the blank.
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE /20240101/us-east-1/bedrock/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=abc",
            "/20240101/us-east-1/bedrock/aws4_request",
        ),
    ],
)
def test_a_token_without_equal_sign_is_quoted_with_the_header(value: str, token: str) -> None:
    assert incomplete(replaced(signed(), "Authorization", value)) == (
        f"'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'."
    )


@pytest.mark.parametrize("algorithm", ["AWS4-HMAC-SHA512", "AWS4-ECDSA-P256-SHA256", "aws4-hmac-sha256"])
def test_another_algorithm_is_unsupported(algorithm: str) -> None:
    auth = header(signed(), "Authorization").replace("AWS4-HMAC-SHA256", algorithm, 1)
    assert incomplete(replaced(signed(), "Authorization", auth)) == (
        f"Unsupported AWS 'algorithm': '{algorithm}'."
    )


@pytest.mark.parametrize(
    "credential",
    [
        "AKIDEXAMPLE",
        "AKIDEXAMPLE/20240101/us-east-1/aws4_request",
        "AKIDEXAMPLE/20240101/us-east-1/bedrock/aws4_request/extra",
    ],
)
def test_a_credential_without_five_parts_is_incomplete(credential: str) -> None:
    auth = header(signed(), "Authorization")
    scope = auth.split("Credential=")[1].split(",")[0]
    forged = replaced(signed(), "Authorization", auth.replace(scope, credential))
    assert incomplete(forged) == (
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
        f"got '{credential}'"
    )


@pytest.mark.parametrize(
    "value",
    ["2024-01-01T00:00:00Z", "20240101", "20241301T000000Z", "2024111T000000Z", "now", "٢٠٢٤0101T000000Z"],
)
def test_a_date_not_in_basic_format_is_incomplete(value: str) -> None:
    assert incomplete(replaced(signed(), "X-Amz-Date", value)) == (
        f"Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
    )


def test_a_signed_header_absent_from_the_request_is_incomplete() -> None:
    req = signed()
    auth = header(req, "Authorization").replace("SignedHeaders=", "SignedHeaders=accept;")
    assert incomplete(replaced(req, "Authorization", auth)) == (
        "'accept' is named as a SignedHeader, but it does not exist in the HTTP request."
    )


def test_a_malformed_header_is_refused_before_the_key_id_is_looked_up() -> None:
    auth = header(signed(), "Authorization").replace(f"Credential={KEY}/", "Credential=NOBODY/")
    req = replaced(signed(), "Authorization", auth.replace("Signature=", "Sig="))
    assert type(refusal(req)) is IncompleteSignatureError


def invalid(req: SignedRequest, verifier: SigV4Verifier | None = None) -> str:
    err = refusal(req, verifier)
    assert type(err) is InvalidSignatureError
    assert (err.code, err.http_status) == ("InvalidSignatureException", 403)
    return str(err)


@pytest.mark.parametrize("service", ["bedrock-runtime", "s3", "execute-api"])
def test_another_service_is_named_the_correct_one(service: str) -> None:
    """What Bedrock answers a client signing for its endpoint prefix instead of 'bedrock'."""
    assert invalid(signed(service=service)) == "Credential should be scoped to correct service: 'bedrock'. "


def test_any_region_is_accepted_unless_the_verifier_is_regional() -> None:
    assert SigV4Verifier(KEY, SECRET).verify(signed(region="us-west-2")) == KEY
    assert invalid(signed(region="us-west-2"), SigV4Verifier(KEY, SECRET, region="us-east-1")) == (
        "Credential should be scoped to a valid region, not 'us-west-2'. "
    )
    assert SigV4Verifier(KEY, SECRET, region="us-west-2").verify(signed(region="us-west-2")) == KEY
    assert invalid(signed(), SigV4Verifier(KEY, SECRET, region="eu-west-1")) == (
        "Credential should be scoped to a valid region, not 'us-east-1'. "
    )


def forged_scope(old: str, new: str) -> SignedRequest:
    auth = header(signed(), "Authorization")
    return replaced(signed(), "Authorization", auth.replace(old, new, 1))


def test_another_terminator_is_refused() -> None:
    assert invalid(forged_scope("/aws4_request", "/aws5_request")) == (
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. "
    )


def test_a_scope_date_other_than_x_amz_date_is_refused() -> None:
    amz_date = header(signed(), "X-Amz-Date")
    assert invalid(forged_scope(f"/{amz_date[:8]}/", "/19990101/")) == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        f"'19990101' != '{amz_date[:8]}', from '{amz_date}'."
    )


def test_every_wrong_scope_part_is_named_in_one_message() -> None:
    amz_date = header(signed(), "X-Amz-Date")
    req = forged_scope(f"/{amz_date[:8]}/us-east-1/bedrock/aws4_request", "/19990101/mars-1/sts/x")
    assert invalid(req, SigV4Verifier(KEY, SECRET, region="us-east-1")) == (
        "Credential should be scoped to a valid region, not 'mars-1'. "
        "Credential should be scoped to correct service: 'bedrock'. "
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'x'. "
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        f"'19990101' != '{amz_date[:8]}', from '{amz_date}'."
    )


@pytest.mark.parametrize(
    ("left_out", "message"),
    [
        ("host", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."),
        ("x-amz-date", "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."),
    ],
)
def test_host_and_date_must_be_signed(left_out: str, message: str) -> None:
    auth = header(signed(), "Authorization")
    signed_headers = auth.split("SignedHeaders=")[1].split(",")[0]
    kept = ";".join(h for h in signed_headers.split(";") if h != left_out)
    req = replaced(signed(), "Authorization", auth.replace(signed_headers, kept))
    assert invalid(req) == message


def test_s3_signatures_cover_the_path_as_sent_and_the_declared_payload() -> None:
    """S3 signs its path unnormalised ('..', '//' kept) and may declare an unsigned payload."""
    url = "http://h/bucket/a//b/../c"
    req = AWSRequest(method="PUT", url=url, data=b"body")
    S3SigV4Auth(Credentials(KEY, SECRET), "s3", "us-east-1").add_auth(req)
    wire = [*req.headers.items(), ("host", "h")]
    declared = req.headers["X-Amz-Content-SHA256"]
    s3_req = SignedRequest("PUT", "/bucket/a//b/../c", "", wire, b"", payload_hash=declared)
    assert SigV4Verifier(KEY, SECRET).verify(s3_req, service="s3") == KEY
    normalised = SignedRequest("PUT", "/bucket/a/c", "", wire, b"", payload_hash=declared)
    with pytest.raises(InvalidSignatureError, match="^The request signature we calculated"):
        SigV4Verifier(KEY, SECRET).verify(normalised, service="s3")


def test_a_verifier_told_the_service_refuses_another() -> None:
    with pytest.raises(InvalidSignatureError, match="scoped to correct service: 's3'"):
        SigV4Verifier(KEY, SECRET).verify(signed("bedrock"), service="s3")
    with pytest.raises(InvalidSignatureError, match="scoped to correct service: 'bedrock'"):
        SigV4Verifier(KEY, SECRET).verify(signed("sts"))
    assert SigV4Verifier(KEY, SECRET).verify(signed("sts"), service="sts") == KEY
