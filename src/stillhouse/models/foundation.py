"""THE foundation-model table: Bedrock model ids -> local model specs, each with a role.

A notebook written for Bedrock names ``amazon.nova-pro-v1:0`` as its teacher and
``amazon.nova-micro-v1:0:128k`` as its student; here those ids stand for local models. The table maps
every id form Bedrock accepts to a *spec string* (which only :mod:`stillhouse.models.registry`
resolves):

- a plain id (``amazon.nova-pro-v1:0``) or one with a context suffix (``amazon.nova-micro-v1:0:128k``,
  a separate model in Bedrock, listed separately);
- an inference profile (``us.``/``eu.``/``apac.``/``us-gov.``/``global.`` before the id) and its ARN
  (``arn:aws:bedrock:REGION:ACCOUNT:inference-profile/us.amazon.nova-premier-v1:0``);
- a foundation-model ARN (``arn:aws:bedrock:REGION::foundation-model/amazon.nova-pro-v1:0``).

The defaults (``foundation_models.json`` beside this module) cover the ids of the seeds and AWS's
distillation notebooks: large models map to the offline teacher spec, small ones to the offline
student spec, each by its role. A user's file (``stillhouse serve --foundation-models FILE.json``,
``$STILLHOUSE_FOUNDATION_MODELS`` for the job workers it starts) maps ids to specs, ``{"id": "SPEC"}``
or ``{"id": {"spec": ..., "role": ..., ...}}``, and extends the defaults (or replaces them with
``$STILLHOUSE_FOUNDATION_MODELS_ONLY=1``). Everything here is pure except the two loaders at the end.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stillhouse.errors import InvalidInputError, NotFoundError

Role = Literal["teacher", "student", "judge"]
Customization = Literal["FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"]
InferenceType = Literal["ON_DEMAND", "PROVISIONED"]
Modality = Literal["TEXT", "IMAGE", "EMBEDDING"]

DEFAULT_FILE = Path(__file__).with_name("foundation_models.json")
ENV_FILE = "STILLHOUSE_FOUNDATION_MODELS"
ENV_ONLY = "STILLHOUSE_FOUNDATION_MODELS_ONLY"
# Bedrock's model providers: a dotted name is a foundation-model id only under one of these, so that
# a catalog name (``qwen2.5-coder-1.5b``) or a file (``model.gguf``) is never mistaken for one.
PROVIDERS = frozenset(
    {
        "ai21", "amazon", "anthropic", "cohere", "deepseek", "google", "luma", "meta", "minimax",
        "mistral", "moonshot", "nvidia", "openai", "qwen", "stability", "twelvelabs", "writer",
    }
)  # fmt: skip
PROFILE_PREFIXES = ("us", "eu", "apac", "us-gov", "global", "ca", "jp", "au")
# Bedrock's GetFoundationModel identifier pattern (service-2.json), without the ARN alternative.
_MODEL_ID = re.compile(r"^[a-z0-9-]{1,63}[.][a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2}$")
_FM_ARN = re.compile(r"^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}::foundation-model/(?P<id>.+)$")
_PROFILE_ARN = re.compile(r"^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:\d{12}:inference-profile/(?P<id>.+)$")
NOT_RESOLVED = "Could not resolve the foundation model from the provided model identifier."


class FoundationModel(BaseModel):
    """One Bedrock foundation model and the local spec that stands in for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    modelId: str = Field(pattern=_MODEL_ID.pattern)
    modelName: str = Field(min_length=1, max_length=20)
    providerName: str = Field(min_length=1, max_length=20)
    role: Role
    spec: str | None = None  # None: the role's default spec
    inputModalities: tuple[Modality, ...] = ("TEXT",)
    outputModalities: tuple[Modality, ...] = ("TEXT",)
    responseStreamingSupported: bool = True
    customizationsSupported: tuple[Customization, ...] = ()
    inferenceTypesSupported: tuple[InferenceType, ...] = ("ON_DEMAND",)


class _TableFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    specs: dict[Role, str]
    models: list[FoundationModel]


def canonical_id(identifier: str) -> str | None:
    """The model id an identifier names (ARNs and inference-profile prefixes stripped), or ``None``
    when it is not a Bedrock foundation-model id at all (a catalog name, a path, a custom model)."""
    text = identifier.strip()
    for arn in (_FM_ARN, _PROFILE_ARN):
        match = arn.match(text)
        if match:
            text = match["id"]
            break
    head, dot, rest = text.partition(".")
    if dot and head in PROFILE_PREFIXES and rest.partition(".")[0] in PROVIDERS:
        text = rest
    if not _MODEL_ID.match(text) or text.partition(".")[0] not in PROVIDERS:
        return None
    return text


def is_foundation_id(identifier: str) -> bool:
    return canonical_id(identifier) is not None


class FoundationTable:
    """The id -> model table (pure: built from parsed documents, never reads a file itself)."""

    def __init__(self, models: list[FoundationModel], specs: dict[Role, str]) -> None:
        self._models = {m.modelId: m for m in models}
        self._specs = dict(specs)

    @classmethod
    def from_documents(
        cls, default: dict[str, Any], user: dict[str, Any] | None, *, only: bool
    ) -> FoundationTable:
        """The default document, extended (or, ``only``, replaced) by a user's ``{"id": SPEC}`` map."""
        base = _parse_default(default)
        models = {} if only and user is not None else {m.modelId: m for m in base.models}
        for model in _parse_user(user or {}, {m.modelId: m for m in base.models}):
            models[model.modelId] = model
        return cls(list(models.values()), base.specs)

    def get(self, identifier: str) -> FoundationModel | None:
        """The model an identifier (any of the forms above) names, or ``None``."""
        model_id = canonical_id(identifier)
        return self._models.get(model_id) if model_id else None

    def require(self, identifier: str, field: str = "modelIdentifier") -> FoundationModel:
        """:meth:`get`, or Bedrock's ResourceNotFoundException for an id it does not know."""
        model = self.get(identifier)
        if model is None:
            raise NotFoundError(
                f"{NOT_RESOLVED} ({identifier!r} is not in the foundation-model table)", field=field
            )
        return model

    def spec_of(self, model: FoundationModel) -> str:
        return model.spec or self._specs[model.role]

    def spec_for(self, identifier: str, field: str = "modelIdentifier") -> str:
        """The local spec for ``identifier``: mapped when it is a Bedrock id (unknown ones refused),
        unchanged otherwise (a catalog name, a path, any spec the registry reads)."""
        if not is_foundation_id(identifier):
            return identifier
        return self.spec_of(self.require(identifier, field))

    def models(self) -> list[FoundationModel]:
        return sorted(self._models.values(), key=lambda m: m.modelId)


def _parse_default(doc: dict[str, Any]) -> _TableFile:
    try:
        return _TableFile.model_validate(doc)
    except ValidationError as exc:
        raise InvalidInputError(
            f"foundation-model table: {exc.errors()[0]['msg']}", field="foundation_models"
        ) from exc


def _parse_user(doc: dict[str, Any], known: dict[str, FoundationModel]) -> list[FoundationModel]:
    """A user's map: each value a spec string, or an object of :class:`FoundationModel` fields."""
    if not isinstance(doc, dict):
        raise InvalidInputError(
            "the foundation-model file must be a JSON object of id -> spec", field="foundation_models"
        )
    out = []
    for model_id, value in doc.items():
        if canonical_id(model_id) != model_id:
            raise InvalidInputError(
                f"{model_id!r} is not a Bedrock model id (provider.model-vN:M, no ARN or profile prefix)",
                field=f"foundation_models.{model_id}",
            )
        fields = {"spec": value} if isinstance(value, str) else value
        if not isinstance(fields, dict) or not str(fields.get("spec") or "").strip():
            raise InvalidInputError("needs a model spec string", field=f"foundation_models.{model_id}")
        base = known.get(model_id)
        merged = {**(base.model_dump() if base else _new_entry(model_id)), **fields, "modelId": model_id}
        try:
            out.append(FoundationModel.model_validate(merged))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInputError(first["msg"], field=f"foundation_models.{model_id}.{where}") from exc
    return out


def _new_entry(model_id: str) -> dict[str, Any]:
    """Defaults for an id the table did not know: a context-suffixed id (``...:0:128k``) is Bedrock's
    customizable, provisioned variant, so it is a student; any other is a teacher."""
    provider, _, name = model_id.partition(".")
    student = model_id.count(":") == 2
    return {
        "modelName": name[:20],
        "providerName": provider.capitalize()[:20],
        "role": "student" if student else "teacher",
        "customizationsSupported": ("FINE_TUNING", "DISTILLATION") if student else (),
        "inferenceTypesSupported": ("PROVISIONED",) if student else ("ON_DEMAND",),
    }


# ---------------------------------------------------------------------------- loading (the I/O edge)


def load_table(path: Path | None = None, *, only: bool = False) -> FoundationTable:
    """The default table extended by the JSON file at ``path`` (replaced by it, ``only``); a file
    that cannot be read or parsed is one :class:`InvalidInputError` naming it."""
    default = json.loads(DEFAULT_FILE.read_text(encoding="utf-8"))
    user = None
    if path is not None:
        try:
            user = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInputError(
                f"cannot read the foundation-model file {path}: {exc}", field="foundation_models"
            ) from exc
    return FoundationTable.from_documents(default, user, only=only)


def active_table() -> FoundationTable:
    """The table this process uses: the defaults plus ``$STILLHOUSE_FOUNDATION_MODELS`` (the server
    sets it for the job workers it starts, so a job maps ids as the server does)."""
    path = os.environ.get(ENV_FILE) or None
    only = os.environ.get(ENV_ONLY, "") not in ("", "0")
    stamp = Path(path).stat().st_mtime_ns if path and Path(path).is_file() else None
    return _cached(path, only, stamp)


@lru_cache(maxsize=4)
def _cached(path: str | None, only: bool, stamp: int | None) -> FoundationTable:
    return load_table(Path(path) if path else None, only=only)
