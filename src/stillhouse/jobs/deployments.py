"""Custom model deployments (``CreateCustomModelDeployment`` and friends), part of :class:`JobService`.

This module only records deployments; loading weights is the server's business. The server moves a
deployment ``Creating -> Active`` (or ``Failed``) with :meth:`DeploymentsMixin.mark_deployment`.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from stillhouse.errors import ConflictError, InvalidInputError, NotFoundError
from stillhouse.jobs import arns, state
from stillhouse.jobs.schema import (
    CreateCustomModelDeploymentRequest,
    CreateCustomModelDeploymentResponse,
    CustomModelDeployment,
    CustomModelDeploymentSummary,
    DeploymentStatus,
    ListCustomModelDeploymentsRequest,
    ListCustomModelDeploymentsResponse,
    parse_wire,
)
from stillhouse.jobs.store import ListQuery, ServedRow, replayed, request_digest

if TYPE_CHECKING:
    from stillhouse.jobs.store import Store

DEPLOYMENT_MOVES: dict[str, frozenset[str]] = {
    "Creating": frozenset({"Active", "Failed"}),
    "Active": frozenset({"Failed"}),  # a model that later fails to load
}


class DeploymentsMixin:
    """Deployment methods of the job service (they share its store)."""

    store: Store

    def _model_row(self, identifier: str) -> Any: ...  # provided by JobService

    def create_deployment(
        self, request: CreateCustomModelDeploymentRequest | dict[str, Any]
    ) -> CreateCustomModelDeploymentResponse:
        """Record a deployment in ``Creating``; idempotent on ``clientRequestToken``. The model must
        exist and be Active; the deployment name must be free."""
        req: CreateCustomModelDeploymentRequest = parse_wire(CreateCustomModelDeploymentRequest, request)
        model = self._model_row(req.modelArn)
        if model["status"] != "Active":
            raise InvalidInputError(f"custom model {model['name']!r} is {model['status']}", field="modelArn")
        digest = request_digest(req)
        with self.store.transaction() as db:
            if (row := replayed(db, "deployments", req.clientRequestToken, digest)) is not None:
                return CreateCustomModelDeploymentResponse(customModelDeploymentArn=row["arn"])
            if db.execute("SELECT 1 FROM deployments WHERE name = ?", (req.modelDeploymentName,)).fetchone():
                raise ConflictError(
                    f"a deployment named {req.modelDeploymentName!r} already exists",
                    field="modelDeploymentName",
                )
            dep_id = secrets.token_hex(6)
            at = state.now()
            dep = CustomModelDeployment(
                customModelDeploymentArn=arns.deployment_arn(dep_id),
                modelDeploymentName=req.modelDeploymentName,
                modelArn=model["arn"],
                createdAt=at,
                status="Creating",
                description=req.description,
                lastUpdatedAt=at,
            )
            self.store.insert_served(
                db,
                "deployments",
                ServedRow(dep_id, dep.modelDeploymentName, dep.customModelDeploymentArn, at, dep.status,
                          dep.modelArn, dep.model_dump_json(), req.clientRequestToken, digest),
            )  # fmt: skip
        return CreateCustomModelDeploymentResponse(customModelDeploymentArn=dep.customModelDeploymentArn)

    def _deployment_row(self, identifier: str) -> Any:
        row = self.store.find("deployments", identifier, "custom-model-deployment")
        if row is None:
            raise NotFoundError(
                f"no custom model deployment {identifier!r}", field="customModelDeploymentIdentifier"
            )
        return row

    def get_deployment(self, identifier: str) -> CustomModelDeployment:
        """``GetCustomModelDeployment`` by ARN, name or id."""
        return CustomModelDeployment.model_validate_json(self._deployment_row(identifier)["doc"])

    def list_deployments(
        self, request: ListCustomModelDeploymentsRequest | dict[str, Any] | None = None
    ) -> ListCustomModelDeploymentsResponse:
        """``ListCustomModelDeployments`` with status/name/model/time filters and paging."""
        req = parse_wire(ListCustomModelDeploymentsRequest, request or {})
        query = ListQuery.of(
            req, req.createdAfter, req.createdBefore, req.statusEquals, ("model_arn = ?", req.modelArnEquals)
        )
        rows, token = self.store.page("deployments", query.as_page())
        return ListCustomModelDeploymentsResponse(
            nextToken=token, modelDeploymentSummaries=[_summary(r["doc"]) for r in rows]
        )

    def delete_deployment(self, identifier: str) -> None:
        """``DeleteCustomModelDeployment`` (the server unloads the model when it next looks)."""
        row = self._deployment_row(identifier)
        with self.store.transaction() as db:
            db.execute("DELETE FROM deployments WHERE id = ?", (row["id"],))

    def mark_deployment(
        self, identifier: str, status: DeploymentStatus, failure: str | None = None
    ) -> CustomModelDeployment:
        """Move a deployment ``Creating -> Active | Failed`` (or ``Active -> Failed``); the server
        calls this once it has loaded the model, or could not. Marking the current status is a no-op."""
        row = self._deployment_row(identifier)
        with self.store.transaction() as db:
            current = CustomModelDeployment.model_validate_json(
                db.execute("SELECT doc FROM deployments WHERE id = ?", (row["id"],)).fetchone()["doc"]
            )
            if current.status == status:
                return current
            if status not in DEPLOYMENT_MOVES.get(current.status, frozenset()):
                raise ConflictError(
                    f"deployment {current.modelDeploymentName!r} cannot go from {current.status} to {status}"
                )
            moved = current.model_copy(
                update={
                    "status": status,
                    "lastUpdatedAt": state.now(),
                    "failureMessage": failure if status == "Failed" else None,
                }
            )
            db.execute(
                "UPDATE deployments SET status = ?, doc = ? WHERE id = ?",
                (status, moved.model_dump_json(), row["id"]),
            )
        return moved


def _summary(doc: str) -> CustomModelDeploymentSummary:
    dep = CustomModelDeployment.model_validate_json(doc)
    return CustomModelDeploymentSummary(
        customModelDeploymentArn=dep.customModelDeploymentArn,
        customModelDeploymentName=dep.modelDeploymentName,
        modelArn=dep.modelArn,
        createdAt=dep.createdAt,
        status=dep.status,
        lastUpdatedAt=dep.lastUpdatedAt,
        failureMessage=dep.failureMessage,
    )
