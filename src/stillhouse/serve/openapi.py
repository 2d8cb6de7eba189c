"""The OpenAPI document, served at ``/openapi.json`` to authenticated callers only.

The routes read their bodies themselves (the body is signed, so it is read once, verified, then
parsed), which hides them from FastAPI's generated schema. This module declares each body and each
list operation's query parameters from the same wire models the routes parse with, so schema-driven
clients and fuzzers reach them, and names the two ways to authenticate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter

from stillhouse.jobs import schema as js
from stillhouse.serve import bedrock_protocol as bp
from stillhouse.serve import openai_protocol as op

if TYPE_CHECKING:
    from fastapi import FastAPI

_REF = "#/components/schemas/{model}"
_BODIES: dict[tuple[str, str], Any] = {
    ("post", "/model-customization-jobs"): js.CreateModelCustomizationJobRequest,
    ("post", "/model-customization/custom-model-deployments"): js.CreateCustomModelDeploymentRequest,
    ("post", "/model/{model_id}/converse"): bp.ConverseRequest,
    ("post", "/model/{model_id}/invoke"): bp.InvokeRequest,
    ("post", "/v1/chat/completions"): op.ChatCompletionRequest,
}
_QUERIES: dict[tuple[str, str], type[BaseModel]] = {
    ("get", "/model-customization-jobs"): js.ListModelCustomizationJobsRequest,
    ("get", "/custom-models"): js.ListCustomModelsRequest,
    ("get", "/model-customization/custom-model-deployments"): js.ListCustomModelDeploymentsRequest,
}
_SECURITY = {
    "sigv4": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "AWS Signature Version 4 (service 'bedrock'), as boto3 signs",
    },
    "bearer": {"type": "http", "scheme": "bearer", "description": "the server's API key"},
}


def _schema(target: Any, components: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of a model (or union), its definitions moved into ``components``."""
    doc = TypeAdapter(target).json_schema(ref_template=_REF)
    components.update(doc.pop("$defs", {}))
    name = getattr(target, "__name__", None)
    if name is None:
        return doc
    components[name] = doc
    return {"$ref": _REF.format(model=name)}


def _query_parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    doc = model.model_json_schema(ref_template=_REF)
    components.update(doc.pop("$defs", {}))
    required = set(doc.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in doc["properties"].items()
    ]


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document with the request bodies, query parameters and security declared."""
    from fastapi.openapi.utils import get_openapi

    doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    components["securitySchemes"] = _SECURITY
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            body = _BODIES.get((method, path))
            if body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _schema(body, schemas)}},
                }
            query = _QUERIES.get((method, path))
            if query is not None:
                operation["parameters"] = operation.get("parameters", []) + _query_parameters(query, schemas)
            if path != "/health":
                operation["security"] = [{"bearer": []}] if path.startswith("/v1/") else [{"sigv4": []}]
    return doc
