"""SigV4 refusals as boto3 sees them on loopback: AWS's exception names, statuses and words for a
wrong secret, an unknown access key id, an unsigned call, a client configured for another region
and a malformed Authorization header, in the Bedrock error shape the rest of serve uses."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.serve.helpers import boto_client

CALLS = {
    "bedrock": lambda c: c.list_custom_models(),
    "bedrock-runtime": lambda c: c.converse(
        modelId="fake-catalog", messages=[{"role": "user", "content": [{"text": "hi"}]}]
    ),
}
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)


def refused(server: str, service: str, **credentials: str) -> ClientError:
    with pytest.raises(ClientError) as err:
        CALLS[service](boto_client(service, server, **credentials))
    return err.value


@pytest.mark.parametrize("service", sorted(CALLS))
def test_unsigned_call_is_missing_authentication_token(server: str, service: str) -> None:
    """boto3 with ``signature_version=UNSIGNED`` sends no Authorization and no X-Amz-Date."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    config = Config(signature_version=UNSIGNED, retries={"max_attempts": 1})
    client = boto3.client(service, endpoint_url=server, region_name="us-east-1", config=config)
    with pytest.raises(ClientError) as err:
        CALLS[service](client)
    assert err.value.response["Error"]["Code"] == "MissingAuthenticationTokenException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.value.response["Error"]["Message"] == "Missing Authentication Token"


@pytest.mark.parametrize("service", sorted(CALLS))
def test_a_client_in_any_region_is_served(server: str, service: str) -> None:
    """One server stands in for every regional endpoint: a notebook keeps its own region."""
    response = CALLS[service](boto_client(service, server, region="eu-west-1"))
    assert response["ResponseMetadata"]["HTTPStatusCode"] in (200, 201)


def test_malformed_authorization_is_incomplete_signature_400(server: str) -> None:
    import httpx

    value = "AWS4-HMAC-SHA256 Credential=AKIDSTILLHOUSETEST/20240101/us-east-1/bedrock/aws4_request"
    r = httpx.get(
        f"{server}/custom-models", headers={"Authorization": value, "X-Amz-Date": "20240101T000000Z"}
    )
    assert r.status_code == 400
    assert r.headers["x-amzn-ErrorType"].startswith("IncompleteSignatureException:")
    assert r.json() == {
        "message": "Authorization header requires 'Signature' parameter. Authorization header requires "
        f"'SignedHeaders' parameter. Authorization={value}"
    }


@pytest.mark.parametrize("service", sorted(CALLS))
def test_wrong_secret_is_invalid_signature_exception(server: str, service: str) -> None:
    err = refused(server, service, secret="not-the-secret")
    assert err.response["Error"]["Code"] == "InvalidSignatureException"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    message = err.response["Error"]["Message"]
    assert message.startswith(
        SIGNATURE_MISMATCH + "\n\nThe Canonical String for this request should have been\n'"
    )
    path = "/custom-models" if service == "bedrock" else "/model/fake-catalog/converse"
    assert f"should have been\n'{'GET' if service == 'bedrock' else 'POST'}\n{path}\n" in message
    assert "\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in message


@pytest.mark.parametrize("service", sorted(CALLS))
@pytest.mark.parametrize("secret", ["not-the-secret", None])
def test_unknown_access_key_id_is_unrecognized_client_exception(
    server: str, service: str, secret: str | None
) -> None:
    """Whatever the secret, an access key id the server does not know is named as such."""
    credentials = {"key_id": "AKIDNOBODYKNOWS"} | ({"secret": secret} if secret else {})
    err = refused(server, service, **credentials)
    assert err.response["Error"]["Code"] == "UnrecognizedClientException"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.response["Error"]["Message"] == "The security token included in the request is invalid."


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        ({"secret": "not-the-secret"}, "InvalidSignatureException"),
        ({"key_id": "AKIDX"}, "UnrecognizedClientException"),
    ],
)
def test_refusals_keep_the_bedrock_error_shape(server: str, credentials: dict[str, str], code: str) -> None:
    """The x-amzn-ErrorType header botocore reads the code from, and a body of just the message."""
    err = refused(server, "bedrock", **credentials)
    headers = err.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-errortype"].startswith(f"{code}:")
    assert headers["content-type"] == "application/json"


def test_a_refused_create_creates_nothing(server: str, bedrock: Any) -> None:
    with pytest.raises(ClientError):
        boto_client("bedrock", server, key_id="AKIDX").create_model_customization_job(
            jobName="j",
            customModelName="m",
            roleArn="arn:aws:iam::000000000000:role/r",
            baseModelIdentifier="smollm2-135m",
            trainingDataConfig={"s3Uri": "s3://b/k.jsonl"},
            outputDataConfig={"s3Uri": "s3://b/o/"},
        )
    assert bedrock.list_model_customization_jobs()["modelCustomizationJobSummaries"] == []
