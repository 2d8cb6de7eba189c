"""``ListFoundationModels`` and ``GetFoundationModel`` over the foundation-model table.

Paths, query parameters, shapes and errors are Bedrock's (botocore's ``bedrock`` service model): a
filter value outside its enum, or an identifier that does not match Bedrock's pattern, is a
ValidationException worded as AWS words it; a well-formed id the table lacks is a
ResourceNotFoundException. Inference-profile ids are runtime identifiers, not foundation models, so
``GetFoundationModel`` refuses them as Bedrock does; ``Converse`` accepts them.
"""

import re
from typing import TYPE_CHECKING, Any

from stillhouse.errors import InvalidInputError, NotFoundError
from stillhouse.models.foundation import NOT_RESOLVED, FoundationModel, FoundationTable, canonical_id
from stillhouse.serve.context import authed, query

if TYPE_CHECKING:
    from fastapi import APIRouter

PATH = "/foundation-models"
_ENUMS = {
    "byCustomizationType": ("FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"),
    "byOutputModality": ("TEXT", "IMAGE", "EMBEDDING"),
    "byInferenceType": ("ON_DEMAND", "PROVISIONED"),
}
_PROVIDER = re.compile(r"^[A-Za-z0-9- ]{1,63}$")
_IDENTIFIER = re.compile(
    r"^(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}::foundation-model/[a-z0-9-]{1,63}[.]{1}([a-z0-9-]{1,63}[.]){0,2}"
    r"[a-z0-9-]{1,63}([:][a-z0-9-]{1,63}){0,2})$|^([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})"
    r"([:][a-z0-9-]{1,63}){0,2})$"
)


def _constraint(value: str, field: str, rule: str) -> InvalidInputError:
    return InvalidInputError(
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {rule}",
        field=field,
    )


def model_arn(model_id: str, region: str) -> str:
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


def summary(model: FoundationModel, region: str) -> dict[str, Any]:
    """A ``FoundationModelSummary`` (also ``FoundationModelDetails``: the two shapes are the same)."""
    return {
        "modelArn": model_arn(model.modelId, region),
        "modelId": model.modelId,
        "modelName": model.modelName,
        "providerName": model.providerName,
        "inputModalities": list(model.inputModalities),
        "outputModalities": list(model.outputModalities),
        "responseStreamingSupported": model.responseStreamingSupported,
        "customizationsSupported": list(model.customizationsSupported),
        "inferenceTypesSupported": list(model.inferenceTypesSupported),
        "modelLifecycle": {"status": "ACTIVE"},
    }


def list_models(table: FoundationTable, query: dict[str, str], region: str) -> list[dict[str, Any]]:
    """The summaries passing every filter given (pure); a malformed filter is a ValidationException."""
    for name, allowed in _ENUMS.items():
        value = query.get(name)
        if value is not None and value not in allowed:
            raise _constraint(value, name, f"Member must satisfy enum value set: [{', '.join(allowed)}]")
    provider = query.get("byProvider")
    if provider is not None and not _PROVIDER.match(provider):
        raise _constraint(
            provider, "byProvider", "Member must satisfy regular expression pattern: [A-Za-z0-9- ]{1,63}"
        )
    out = []
    for model in table.models():
        if provider is not None and model.providerName.lower() != provider.lower():
            continue
        if query.get("byCustomizationType") not in (None, *model.customizationsSupported):
            continue
        if query.get("byOutputModality") not in (None, *model.outputModalities):
            continue
        if query.get("byInferenceType") not in (None, *model.inferenceTypesSupported):
            continue
        out.append(summary(model, region))
    return out


def get_model(table: FoundationTable, identifier: str, region: str) -> dict[str, Any]:
    """``modelDetails`` for a model id or foundation-model ARN (pure)."""
    if len(identifier) > 2048 or not _IDENTIFIER.match(identifier):
        raise _constraint(
            identifier,
            "modelIdentifier",
            "Member must satisfy regular expression pattern: " + _IDENTIFIER.pattern,
        )
    bare = identifier.rsplit("/", 1)[-1]
    if canonical_id(identifier) != bare:  # an inference profile (us.amazon...) is no foundation model
        raise NotFoundError(NOT_RESOLVED, field="modelIdentifier")
    model = table.get(identifier)
    if model is None:
        raise NotFoundError(NOT_RESOLVED, field="modelIdentifier")
    return summary(model, region)


def router() -> "APIRouter":
    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse

    r = APIRouter(tags=["bedrock"])

    # Nested so that fastapi is imported only when an app is built (annotations evaluated here).
    @r.get(PATH)
    async def list_foundation_models(request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        return JSONResponse(
            {"modelSummaries": list_models(ctx.foundation, query(request), ctx.settings.region)}
        )

    @r.get(PATH + "/{model_identifier:path}")
    async def get_foundation_model(model_identifier: str, request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        return JSONResponse(
            {"modelDetails": get_model(ctx.foundation, model_identifier, ctx.settings.region)}
        )

    return r
