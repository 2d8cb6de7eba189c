"""Provisioned throughput (``CreateProvisionedModelThroughput`` and friends), part of :class:`JobService`.

Like :mod:`stillhouse.jobs.deployments`, this module only records; the server loads the model
(``modelUnits`` replicas) and moves a provisioned model ``Creating -> InService`` (or ``Failed``) with
:meth:`ProvisionedMixin.mark_provisioned`; an update that names another model goes ``Updating`` until
the new one is loaded. A provisioned model serves a custom model (by ARN or name) or a foundation
model the foundation-model table maps. Refusals are Bedrock's: an unknown model is
ResourceNotFoundException, a name taken or a token reused for another request ConflictException, and
nothing is stored when a request is refused.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stillhouse.errors import ConflictError, NotFoundError
from stillhouse.jobs import arns, state
from stillhouse.jobs.schema import SortOrder, Tag, parse_wire
from stillhouse.jobs.store import ListQuery, ServedRow, replayed, request_digest

if TYPE_CHECKING:
    from stillhouse.jobs.store import Store

ProvisionedStatus = Literal["Creating", "InService", "Updating", "Failed"]
NAME = r"^([0-9a-zA-Z][_-]?)+$"
PROVISIONED_MOVES: dict[str, frozenset[str]] = {
    "Creating": frozenset({"InService", "Failed"}),
    "InService": frozenset({"Updating", "Failed"}),
    "Updating": frozenset({"InService", "Failed"}),
    "Failed": frozenset(),
}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateProvisionedModelThroughputRequest(_Wire):
    clientRequestToken: str | None = Field(
        default=None, min_length=1, max_length=256, pattern=r"^[a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?$"
    )
    modelUnits: int = Field(ge=1)
    provisionedModelName: str = Field(min_length=1, max_length=63, pattern=NAME)
    modelId: str = Field(min_length=1, max_length=2048)
    commitmentDuration: Literal["OneMonth", "SixMonths"] | None = None
    tags: list[Tag] | None = Field(default=None, max_length=200)


class UpdateProvisionedModelThroughputRequest(_Wire):
    desiredProvisionedModelName: str | None = Field(default=None, min_length=1, max_length=63, pattern=NAME)
    desiredModelId: str | None = Field(default=None, min_length=1, max_length=2048)


class ProvisionedModel(_Wire):
    """``GetProvisionedModelThroughput``'s answer (a summary is the same fields)."""

    modelUnits: int
    desiredModelUnits: int
    provisionedModelName: str
    provisionedModelArn: str
    modelArn: str
    desiredModelArn: str
    foundationModelArn: str
    status: ProvisionedStatus
    creationTime: datetime
    lastModifiedTime: datetime
    failureMessage: str | None = None
    commitmentDuration: Literal["OneMonth", "SixMonths"] | None = None
    commitmentExpirationTime: datetime | None = None


class ListProvisionedModelThroughputsRequest(_Wire):
    creationTimeAfter: datetime | None = None
    creationTimeBefore: datetime | None = None
    statusEquals: ProvisionedStatus | None = None
    modelArnEquals: str | None = Field(default=None, min_length=20, max_length=1011)
    nameContains: str | None = Field(default=None, min_length=1, max_length=63, pattern=NAME)
    maxResults: int = Field(default=100, ge=1, le=1000)
    nextToken: str | None = Field(default=None, min_length=1, max_length=2048)
    sortBy: Literal["CreationTime"] = "CreationTime"
    sortOrder: SortOrder = "Descending"


class ListProvisionedModelThroughputsResponse(_Wire):
    nextToken: str | None = None
    provisionedModelSummaries: list[ProvisionedModel]


class ProvisionedMixin:
    """Provisioned-throughput methods of the job service (they share its store)."""

    store: Store

    def _model_row(self, identifier: str) -> Any: ...  # provided by JobService

    def served_model(self, model_id: str) -> tuple[str, str]:
        """(model ARN, foundation-model ARN) of what a provisioned model would serve; Bedrock's
        ResourceNotFoundException for a custom model or foundation id that does not exist."""
        from stillhouse.models.foundation import active_table, is_foundation_id

        if is_foundation_id(model_id):
            model = active_table().require(model_id, "modelId")
            arn = arns.base_model_arn(model.modelId)
            return arn, arn
        try:
            row = self._model_row(model_id)
        except NotFoundError as exc:
            raise NotFoundError(f"custom model {model_id!r} was not found", field="modelId") from exc
        doc = json.loads(row["doc"])
        return row["arn"], doc["baseModelArn"]

    def create_provisioned(self, request: CreateProvisionedModelThroughputRequest | dict[str, Any]) -> str:
        """Record a provisioned model in ``Creating``; returns its ARN. Idempotent on the token."""
        req = parse_wire(CreateProvisionedModelThroughputRequest, request)
        model_arn, foundation_arn = self.served_model(req.modelId)
        digest = request_digest(req)
        with self.store.transaction() as db:
            if (row := replayed(db, "provisioned", req.clientRequestToken, digest)) is not None:
                return str(row["arn"])
            if db.execute("SELECT 1 FROM provisioned WHERE name = ?", (req.provisionedModelName,)).fetchone():
                raise ConflictError(
                    f"a provisioned model named {req.provisionedModelName!r} already exists",
                    field="provisionedModelName",
                )
            pm_id, at = secrets.token_hex(6), state.now()
            doc = ProvisionedModel(
                modelUnits=req.modelUnits,
                desiredModelUnits=req.modelUnits,
                provisionedModelName=req.provisionedModelName,
                provisionedModelArn=arns.resource_arn("provisioned-model", pm_id),
                modelArn=model_arn,
                desiredModelArn=model_arn,
                foundationModelArn=foundation_arn,
                status="Creating",
                creationTime=at,
                lastModifiedTime=at,
                commitmentDuration=req.commitmentDuration,
            )
            self.store.insert_served(
                db,
                "provisioned",
                ServedRow(pm_id, doc.provisionedModelName, doc.provisionedModelArn, at, doc.status, model_arn,
                          doc.model_dump_json(), req.clientRequestToken, digest),
            )  # fmt: skip
        return doc.provisionedModelArn

    def _provisioned_row(self, identifier: str) -> Any:
        row = self.store.find("provisioned", identifier, "provisioned-model")
        if row is None:
            raise NotFoundError(f"provisioned model {identifier!r} was not found", field="provisionedModelId")
        return row

    def get_provisioned(self, identifier: str) -> ProvisionedModel:
        """``GetProvisionedModelThroughput`` by ARN or name."""
        return ProvisionedModel.model_validate_json(self._provisioned_row(identifier)["doc"])

    def list_provisioned(
        self, request: ListProvisionedModelThroughputsRequest | dict[str, Any] | None = None
    ) -> ListProvisionedModelThroughputsResponse:
        req = parse_wire(ListProvisionedModelThroughputsRequest, request or {})
        query = ListQuery.of(
            req,
            req.creationTimeAfter,
            req.creationTimeBefore,
            req.statusEquals,
            ("model_arn = ?", req.modelArnEquals),
        )
        rows, token = self.store.page("provisioned", query.as_page())
        return ListProvisionedModelThroughputsResponse(
            nextToken=token,
            provisionedModelSummaries=[ProvisionedModel.model_validate_json(r["doc"]) for r in rows],
        )

    def update_provisioned(
        self, identifier: str, request: UpdateProvisionedModelThroughputRequest | dict[str, Any]
    ) -> ProvisionedModel:
        """A new name (at once) and/or a new model (``Updating`` until the server has loaded it)."""
        req = parse_wire(UpdateProvisionedModelThroughputRequest, request)
        row = self._provisioned_row(identifier)
        desired = self.served_model(req.desiredModelId)[0] if req.desiredModelId else None
        with self.store.transaction() as db:
            current = ProvisionedModel.model_validate_json(
                db.execute("SELECT doc FROM provisioned WHERE id = ?", (row["id"],)).fetchone()["doc"]
            )
            name = req.desiredProvisionedModelName or current.provisionedModelName
            if (
                name != current.provisionedModelName
                and db.execute("SELECT 1 FROM provisioned WHERE name = ?", (name,)).fetchone()
            ):
                raise ConflictError(
                    f"a provisioned model named {name!r} already exists", field="desiredProvisionedModelName"
                )
            changes: dict[str, Any] = {"provisionedModelName": name, "lastModifiedTime": state.now()}
            if desired is not None and desired != current.modelArn:
                if current.status != "InService":
                    raise ConflictError(
                        f"provisioned model {current.provisionedModelName!r} is {current.status}; "
                        "its model can change only when it is InService"
                    )
                changes.update(desiredModelArn=desired, status="Updating")
            moved = current.model_copy(update=changes)
            db.execute(
                "UPDATE provisioned SET name = ?, status = ?, doc = ? WHERE id = ?",
                (moved.provisionedModelName, moved.status, moved.model_dump_json(), row["id"]),
            )
        return moved

    def delete_provisioned(self, identifier: str) -> str:
        """``DeleteProvisionedModelThroughput``; returns the ARN so the server can unload it."""
        row = self._provisioned_row(identifier)
        with self.store.transaction() as db:
            db.execute("DELETE FROM provisioned WHERE id = ?", (row["id"],))
        return str(row["arn"])

    def mark_provisioned(
        self, identifier: str, status: ProvisionedStatus, failure: str | None = None
    ) -> ProvisionedModel:
        """The server's report: loaded (``InService``, the desired model now the model) or not."""
        row = self._provisioned_row(identifier)
        with self.store.transaction() as db:
            current = ProvisionedModel.model_validate_json(
                db.execute("SELECT doc FROM provisioned WHERE id = ?", (row["id"],)).fetchone()["doc"]
            )
            if current.status == status:
                return current
            if status not in PROVISIONED_MOVES[current.status]:
                raise ConflictError(
                    f"provisioned model {current.provisionedModelName!r} cannot go from {current.status} to {status}"
                )
            moved = current.model_copy(
                update={
                    "status": status,
                    "lastModifiedTime": state.now(),
                    "failureMessage": failure if status == "Failed" else None,
                    "modelArn": current.desiredModelArn if status == "InService" else current.modelArn,
                }
            )
            db.execute(
                "UPDATE provisioned SET status = ?, model_arn = ?, doc = ? WHERE id = ?",
                (status, moved.modelArn, moved.model_dump_json(), row["id"]),
            )
        return moved
