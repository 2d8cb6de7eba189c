"""STS GetCallerIdentity through boto3's ``sts`` client on the one endpoint, and STS's refusals."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from tests.serve.helpers import KEY_ID, REGION, SECRET, boto_client

from stillhouse.serve.settings import ServerSettings

pytestmark = pytest.mark.integration


def test_get_caller_identity_answers_the_configured_account_arn_and_key(server: str) -> None:
    identity = boto_client("sts", server).get_caller_identity()
    assert (identity["Account"], identity["Arn"], identity["UserId"]) == (
        "000000000000",
        "arn:aws:iam::000000000000:user/stillhouse",
        KEY_ID,
    )


def test_configured_identity() -> None:
    settings = ServerSettings(
        access_key_id=KEY_ID,
        secret_access_key=SECRET,
        caller_arn="arn:aws:iam::123456789012:user/alice",
        caller_user_id="AIDAEXAMPLE",
    )
    assert settings.caller_identity == ("123456789012", "arn:aws:iam::123456789012:user/alice", "AIDAEXAMPLE")
    with pytest.raises(ValueError, match="caller_arn"):
        ServerSettings(caller_arn="alice")


def test_caller_arn_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from stillhouse.serve.settings import settings_from_env

    monkeypatch.setenv("STILLHOUSE_CALLER_ARN", "arn:aws:iam::210987654321:user/bob")
    settings = settings_from_env(access_key_id=KEY_ID, secret_access_key=SECRET)
    assert settings.caller_identity == ("210987654321", "arn:aws:iam::210987654321:user/bob", KEY_ID)


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [({"secret": "wrong"}, "SignatureDoesNotMatch"), ({"key_id": "AKIDOTHER"}, "InvalidClientTokenId")],
)
def test_refusals_are_stss_codes(server: str, credentials: dict[str, str], expected: str) -> None:
    with pytest.raises(ClientError) as err:
        boto_client("sts", server, **credentials).get_caller_identity()
    assert (
        err.value.response["Error"]["Code"],
        err.value.response["ResponseMetadata"]["HTTPStatusCode"],
    ) == (
        expected,
        403,
    )


def _post(server: str, body: str) -> tuple[int, bytes]:
    import http.client
    from urllib.parse import urlsplit

    req = AWSRequest(
        "POST",
        f"{server}/",
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    SigV4Auth(Credentials(KEY_ID, SECRET), "sts", REGION).add_auth(req)
    parts = urlsplit(server)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("POST", "/", body=req.body, headers=dict(req.headers.items()))
    resp = conn.getresponse()
    return resp.status, resp.read()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("Action=AssumeRole&Version=2011-06-15", b"<Code>InvalidAction</Code>"),
        ("Action=GetCallerIdentity&Version=2099-01-01", b"<Code>InvalidAction</Code>"),
        ("Version=2011-06-15", b"<Code>MissingAction</Code>"),
    ],
)
def test_other_actions_are_refused_in_stss_error_shape(server: str, body: str, code: bytes) -> None:
    status, answer = _post(server, body)
    assert (
        status == 400 and code in answer and b"<ErrorResponse" in answer and b"<Type>Sender</Type>" in answer
    )


def test_sts_and_bedrock_share_the_endpoint(server: str, bedrock: Any) -> None:
    assert boto_client("sts", server).get_caller_identity()["Account"] == "000000000000"
    assert bedrock.list_custom_models()["modelSummaries"] == []
