"""``/openapi.json``: only for authenticated callers, and it declares every body and query parameter."""

from __future__ import annotations

from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from tests.serve.helpers import API_KEY, KEY_ID, REGION, SECRET


def _sigv4_headers() -> dict[str, str]:
    req = AWSRequest(method="GET", url="http://testserver/openapi.json")
    SigV4Auth(Credentials(KEY_ID, SECRET), "bedrock", REGION).add_auth(req)
    return dict(req.headers.items())


def test_schema_needs_credentials(client: Any) -> None:
    r = client.get("/openapi.json")
    assert r.status_code == 403 and r.json()["message"] == "Missing Authentication Token"
    assert r.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException:")
    assert client.get("/openapi.json", headers={"Authorization": "Bearer sk-wrong"}).status_code == 401
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json", headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200
    assert client.get("/openapi.json", headers=_sigv4_headers()).status_code == 200


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_schema_declares_bodies_and_query_parameters(client: Any) -> None:
    doc = client.get("/openapi.json", headers={"Authorization": f"Bearer {API_KEY}"}).json()
    paths = doc["paths"]
    for path in (
        "/model-customization-jobs",
        "/model-customization/custom-model-deployments",
        "/model/{model_id}/converse",
        "/model/{model_id}/invoke",
        "/v1/chat/completions",
    ):
        assert paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"], path
    converse = doc["components"]["schemas"]["ConverseRequest"]
    assert {"messages", "inferenceConfig", "requestMetadata"} <= set(converse["properties"])
    listed = {p["name"]: p for p in paths["/model-customization-jobs"]["get"]["parameters"]}
    assert {"statusEquals", "maxResults", "nameContains", "nextToken"} <= set(listed)
    assert listed["maxResults"]["schema"]["maximum"] == 1000
    names = {p["name"] for p in paths["/custom-models"]["get"]["parameters"]}
    assert "maxResults" in names
    # Every reference resolves inside the document.
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.split("/")[-1] in schemas, ref
    assert paths["/v1/chat/completions"]["post"]["security"] == [{"bearer": []}]
    assert paths["/model/{model_id}/converse"]["post"]["security"] == [{"sigv4": []}]
