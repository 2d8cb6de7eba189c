"""Bounded fuzzing of what an unauthenticated caller controls: ``Authorization``, ``X-Amz-Date``, the
bearer header and the body of signed requests. No input gives a 500; every refusal says why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.serve.helpers import API_KEY, KEY_ID, REGION, SECRET, fake_loader

from stillhouse.serve.settings import ServerSettings

URL = "http://testserver/model/fake-catalog/converse"
BODY = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).encode()
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# What can travel in an HTTP header value: any byte but CR, LF and NUL.
header_bytes = st.binary(max_size=300).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"").replace(b"\0", b"")
)
header_text = (
    st.text(max_size=80)
    .map(lambda s: s.encode("utf-8", "surrogatepass"))
    .map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"").replace(b"\0", b""))
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from stillhouse.jobs.service import JobService
    from stillhouse.serve.app import create_app
    from stillhouse.sources.objectstore import LocalObjectStore

    home: Path = tmp_path_factory.mktemp("fuzz-home")
    settings_ = ServerSettings(
        access_key_id=KEY_ID,
        secret_access_key=SECRET,
        api_key=API_KEY,
        region=REGION,
        invocation_log_wal_dir=home / "wal",
    )
    app = create_app(
        settings_,
        jobs=JobService(home / "jobs.db"),
        model_loader=fake_loader,
        store_factory=lambda: LocalObjectStore(home / "s3"),
        catalog_names=frozenset({"fake-catalog"}),
    )
    with TestClient(app) as c:
        yield c


def signed_headers(body: bytes, url: str = URL, method: str = "POST") -> dict[str, str]:
    req = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(KEY_ID, SECRET), "bedrock", REGION).add_auth(req)
    return {k: v for k, v in req.headers.items()}


def assert_answered_with_reason(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["x-amzn-ErrorType"].split(":")[0].endswith("Exception")
        message = response.json()["message"]
        assert message and message != "internal server error"


# What AWS answers a request whose signature it cannot accept; AccessDeniedException is an IAM
# permission refusal, never an answer about the Authorization header or X-Amz-Date.
SIGV4_REFUSALS = {
    "MissingAuthenticationTokenException": 403,
    "IncompleteSignatureException": 400,
    "InvalidSignatureException": 403,
    "UnrecognizedClientException": 403,
}


def assert_sigv4_refusal(response: Any) -> None:
    assert_answered_with_reason(response)
    code = response.headers["x-amzn-ErrorType"].split(":")[0]
    assert SIGV4_REFUSALS.get(code) == response.status_code, (code, response.text)


def _post(client: Any, headers: dict[str, Any], body: bytes = BODY) -> Any:
    return client.post("/model/fake-catalog/converse", content=body, headers=headers)


@FUZZ
@given(value=header_bytes)
def test_any_authorization_header_is_refused_with_a_reason(client: Any, value: bytes) -> None:
    response = _post(client, {**signed_headers(BODY), "Authorization": value})
    assert_sigv4_refusal(response)


PARTS = ("key", "date", "region", "service", "signed", "signature")


@FUZZ
@given(part=st.sampled_from(PARTS), value=header_text)
def test_a_mangled_credential_part_is_refused_with_a_reason(client: Any, part: str, value: bytes) -> None:
    """One part of a real botocore Authorization header replaced (e.g. a non-ASCII key id)."""
    headers = signed_headers(BODY)
    auth = headers["Authorization"]
    cred = auth.split("Credential=")[1].split(",")[0]
    key, date, region, service, _ = cred.split("/")
    signed = auth.split("SignedHeaders=")[1].split(",")[0]
    sig = auth.split("Signature=")[1]
    fields = dict(zip(PARTS, (key, date, region, service, signed, sig), strict=True))
    raw = {k: v.encode() for k, v in fields.items()} | {part: value}
    forged = (
        b"AWS4-HMAC-SHA256 Credential="
        + b"/".join([raw["key"], raw["date"], raw["region"], raw["service"]])
        + b"/aws4_request, SignedHeaders="
        + raw["signed"]
        + b", Signature="
        + raw["signature"]
    )
    response = _post(client, {**headers, "Authorization": forged})
    if response.status_code == 200:  # the replacement happened to equal the original
        assert raw[part] == fields[part].encode()
    else:
        assert_sigv4_refusal(response)


@FUZZ
@given(value=st.one_of(header_bytes, st.datetimes().map(lambda d: d.strftime("%Y%m%dT%H%M%SZ").encode())))
def test_any_amz_date_is_refused_with_a_reason(client: Any, value: bytes) -> None:
    response = _post(client, {**signed_headers(BODY), "X-Amz-Date": value})
    assert_sigv4_refusal(response)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
turn = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", ""]), "content": json_values}
)
converse_like = st.fixed_dictionaries(
    {"messages": st.lists(turn, max_size=3)},
    optional={"inferenceConfig": json_values, "system": json_values, "requestMetadata": json_values},
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    converse_like.map(lambda v: json.dumps(v).encode()),
)


SIGNED_POSTS = (
    "/model/fake-catalog/converse",
    "/model/fake-catalog/invoke",
    "/model-customization-jobs",
    "/model-customization/custom-model-deployments",
)


@FUZZ
@given(path=st.sampled_from(SIGNED_POSTS), body=bodies)
def test_any_signed_body_is_answered_or_refused_with_a_reason(client: Any, path: str, body: bytes) -> None:
    headers = signed_headers(body, "http://testserver" + path)
    assert_answered_with_reason(client.post(path, content=body, headers=headers))


query_values = st.text(max_size=30) | st.integers().map(str) | st.datetimes().map(str)
LISTS = ("/model-customization-jobs", "/custom-models", "/model-customization/custom-model-deployments")


@FUZZ
@given(path=st.sampled_from(LISTS), query=st.dictionaries(st.text(max_size=15), query_values, max_size=4))
def test_any_signed_list_query_is_answered_or_refused_with_a_reason(
    client: Any, path: str, query: dict[str, str]
) -> None:
    from urllib.parse import urlencode

    url = f"{path}?{urlencode(query)}" if query else path
    response = client.get(url, headers=signed_headers(b"", "http://testserver" + url, "GET"))
    assert_answered_with_reason(response)


@FUZZ
@given(value=header_bytes)
def test_any_bearer_header_is_401_with_a_reason(client: Any, value: bytes) -> None:
    response = client.get("/v1/models", headers={"Authorization": value})
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    # OpenAI's two refusals: no key at all (code null) or a wrong one (invalid_api_key).
    missing = error["message"].startswith("You didn't provide an API key.")
    assert missing or error["message"].startswith("Incorrect API key provided: "), error
    assert error["code"] == (None if missing else "invalid_api_key")
