"""The job service: Bedrock's customization control plane over the SQLite store.

The HTTP server and the CLI call :class:`JobService`; worker processes claim the jobs it creates and
report back through :meth:`JobService.transition`, :meth:`save_progress` and
:meth:`register_output_model`. Identifiers are accepted as ARN, name or id wherever Bedrock does.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stillhouse import paths
from stillhouse.errors import ConflictError, NotFoundError
from stillhouse.jobs import arns, state
from stillhouse.jobs.batch import BatchJobsMixin
from stillhouse.jobs.deployments import DeploymentsMixin
from stillhouse.jobs.evaluation import EvaluationJobsMixin
from stillhouse.jobs.provisioned import ProvisionedMixin
from stillhouse.jobs.schema import (
    CreateModelCustomizationJobRequest,
    CreateModelCustomizationJobResponse,
    CustomModel,
    CustomModelSummary,
    ListCustomModelsRequest,
    ListCustomModelsResponse,
    ListModelCustomizationJobsRequest,
    ListModelCustomizationJobsResponse,
    ModelCustomizationJob,
    ModelCustomizationJobSummary,
    TrainingMetrics,
    ValidatorMetric,
    parse_wire,
)
from stillhouse.jobs.specs import local_specs
from stillhouse.jobs.store import CUSTOMIZATION, JobRow, ListQuery, Store, epoch, replayed, request_digest

JobChange = Callable[[ModelCustomizationJob], ModelCustomizationJob]


def default_db_path() -> Path:
    return paths.home() / "jobs.db"


class JobService(DeploymentsMixin, ProvisionedMixin, BatchJobsMixin, EvaluationJobsMixin):
    """Create, inspect, list and stop customization jobs; read and delete the custom models they make;
    manage custom model deployments; the same for batch inference and evaluation jobs (their mixins). Safe to use from several processes on one database file."""

    def __init__(self, db_path: Path | None = None, *, jobs_root: Path | None = None) -> None:
        self.db_path = Path(db_path or default_db_path())
        self.jobs_root = Path(jobs_root or self.db_path.parent / "jobs")
        self.store = Store(self.db_path)

    # ------------------------------------------------------------------------------------ jobs

    def create_job(
        self, request: CreateModelCustomizationJobRequest | dict[str, Any]
    ) -> CreateModelCustomizationJobResponse:
        """Register a job (it runs when a worker claims it). Idempotent on ``clientRequestToken``:
        the same token and request return the first job's ARN; the same token with a different
        request is a :class:`ConflictError`, as is a job name or custom model name already taken."""
        req: CreateModelCustomizationJobRequest = parse_wire(CreateModelCustomizationJobRequest, request)
        _check_hyperparameters(req)
        local_specs(req)  # a Bedrock model id the foundation-model table lacks is refused here
        digest = request_digest(req)
        job_id = secrets.token_hex(6)
        with self.store.transaction() as db:
            if (row := replayed(db, "jobs", req.clientRequestToken, digest)) is not None:
                return CreateModelCustomizationJobResponse(jobArn=arns.job_arn(row["id"]))
            self._check_names_free(db, req)
            job = _new_job(job_id, req)
            self.store.insert_job(
                db,
                JobRow(
                    job_id,
                    CUSTOMIZATION,
                    req.jobName,
                    req.clientRequestToken,
                    digest,
                    job.status,
                    epoch(job.creationTime),
                    job.model_dump_json(),
                    req.model_dump_json(),
                ),
            )
        return CreateModelCustomizationJobResponse(jobArn=job.jobArn)

    def _check_names_free(self, db: Any, req: CreateModelCustomizationJobRequest) -> None:
        if db.execute("SELECT 1 FROM jobs WHERE name = ?", (req.jobName,)).fetchone():
            raise ConflictError(f"a job named {req.jobName!r} already exists", field="jobName")
        taken = (
            db.execute("SELECT 1 FROM custom_models WHERE name = ?", (req.customModelName,)).fetchone()
            or db.execute(
                "SELECT 1 FROM jobs WHERE json_extract(doc, '$.outputModelName') = ? AND status IN "
                "('InProgress', 'Stopping')",
                (req.customModelName,),
            ).fetchone()
        )
        if taken:
            raise ConflictError(
                f"custom model name {req.customModelName!r} is already in use", field="customModelName"
            )

    def _job_row(self, identifier: str) -> Any:
        row = self.store.find("jobs", identifier, "model-customization-job", kind=CUSTOMIZATION)
        if row is None:
            raise NotFoundError(f"no model customization job {identifier!r}", field="jobIdentifier")
        return row

    def job_id(self, identifier: str) -> str:
        """The id of a job given its ARN, name or id (:class:`NotFoundError` when unknown)."""
        return self._job_row(identifier)["id"]

    def get_job(self, identifier: str) -> ModelCustomizationJob:
        """``GetModelCustomizationJob``: the job by ARN, name or id."""
        return ModelCustomizationJob.model_validate_json(self._job_row(identifier)["doc"])

    def list_jobs(
        self, request: ListModelCustomizationJobsRequest | dict[str, Any] | None = None
    ) -> ListModelCustomizationJobsResponse:
        """``ListModelCustomizationJobs`` with status/name/time filters and opaque-token paging."""
        req = parse_wire(ListModelCustomizationJobsRequest, request or {})
        query = ListQuery.of(req, req.creationTimeAfter, req.creationTimeBefore, req.statusEquals)
        rows, token = self.store.page("jobs", query.as_page(CUSTOMIZATION))
        return ListModelCustomizationJobsResponse(
            nextToken=token, modelCustomizationJobSummaries=[_summary(r["doc"]) for r in rows]
        )

    def stop_job(self, identifier: str) -> None:
        """``StopModelCustomizationJob``: InProgress -> Stopping; the worker stops at its next safe
        point. A job no worker holds is Stopped at once. Stopping a finished job is a ConflictError."""
        at = state.now()

        def change(job: ModelCustomizationJob, leased: bool) -> ModelCustomizationJob:
            job = state.request_stop(job, at)
            return job if leased else state.finish_stopped(job, at)

        # The lease is read in the same transaction as the write, so a worker claiming the job at
        # this instant either sees Stopped (and skips it) or holds the lease (and sees Stopping).
        self._update(self.job_id(identifier), change)

    # ------------------------------------------------------------------- worker-side job access

    def transition(
        self, job_id: str, change: JobChange, *, progress: dict[str, Any] | None = None
    ) -> ModelCustomizationJob:
        """Apply a state-machine move atomically (and optionally persist stage progress with it)."""
        return self._update(job_id, lambda job, leased: change(job), progress=progress)

    def _update(
        self,
        job_id: str,
        change: Callable[[ModelCustomizationJob, bool], ModelCustomizationJob],
        *,
        progress: dict[str, Any] | None = None,
    ) -> ModelCustomizationJob:
        def on_doc(doc: dict[str, Any], leased: bool) -> dict[str, Any]:
            return change(ModelCustomizationJob.model_validate(doc), leased).model_dump(mode="json")

        return ModelCustomizationJob.model_validate(self.store.update_job(job_id, on_doc, progress=progress))

    def job_request(self, job_id: str) -> CreateModelCustomizationJobRequest:
        """The request a job was created with (the pipeline's instructions)."""
        row = self.store.one("SELECT request FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise NotFoundError(f"no model customization job {job_id!r}")
        return CreateModelCustomizationJobRequest.model_validate_json(row["request"])

    def progress(self, job_id: str) -> dict[str, Any]:
        """What the pipeline persisted so far for a job (stage outputs, file paths)."""
        row = self.store.one("SELECT progress FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise NotFoundError(f"no model customization job {job_id!r}")
        return json.loads(row["progress"])

    def save_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        self.store.save_progress(job_id, progress)

    def job_dir(self, job_id: str) -> Path:
        """The job's working folder: inputs, teacher cache, labelled data, checkpoints, model."""
        return self.jobs_root / job_id

    def register_output_model(
        self,
        job_id: str,
        model_dir: Path,
        *,
        training_loss: float | None = None,
        validation_loss: float | None = None,
    ) -> CustomModel:
        """Record the trained model as a custom model and complete the job, in one transaction."""
        with self.store.transaction() as db:
            job = ModelCustomizationJob.model_validate_json(
                db.execute("SELECT doc FROM jobs WHERE id = ?", (job_id,)).fetchone()["doc"]
            )
            model = _custom_model(job, training_loss, validation_loss)
            done = state.complete(
                job.model_copy(
                    update={
                        "trainingMetrics": model.trainingMetrics,
                        "validationMetrics": model.validationMetrics,
                    }
                ),
                model.modelArn,
                state.now(),
            )
            db.execute(
                "INSERT INTO custom_models (id, name, arn, created, status, doc, model_dir, job_id) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (
                    model.modelArn.rsplit("-", 1)[1],
                    model.modelName,
                    model.modelArn,
                    epoch(model.creationTime),
                    model.modelStatus,
                    model.model_dump_json(),
                    str(model_dir),
                    job_id,
                ),
            )
            db.execute(
                "UPDATE jobs SET doc = ?, status = ? WHERE id = ?",
                (done.model_dump_json(), done.status, job_id),
            )
        return model

    # --------------------------------------------------------------------------- custom models

    def _model_row(self, identifier: str) -> Any:
        row = self.store.find("custom_models", identifier, "custom-model")
        if row is None:
            raise NotFoundError(f"no custom model {identifier!r}", field="modelIdentifier")
        return row

    def get_custom_model(self, identifier: str) -> CustomModel:
        """``GetCustomModel`` by ARN or name."""
        return CustomModel.model_validate_json(self._model_row(identifier)["doc"])

    def custom_model_dir(self, identifier: str) -> Path:
        """The folder holding a custom model's weights (what the server loads for inference)."""
        return Path(self._model_row(identifier)["model_dir"])

    def model_spec(self, model_id: str) -> str:
        """The model spec a job's ``modelId`` names: a provisioned model's custom model, a custom
        model's folder (by ARN or name, from this service's table), a Bedrock foundation-model id or
        ARN through the foundation-model table, or the id itself as a registry spec."""
        from stillhouse.models.foundation import active_table

        parts = arns.split_arn(model_id)
        if parts and parts[0] == "provisioned-model":
            return self.model_spec(self.get_provisioned(model_id).modelArn)
        if parts and parts[0] == "foundation-model":
            return active_table().spec_for(parts[1], "modelId")
        try:
            return str(self.custom_model_dir(model_id))
        except NotFoundError:
            if parts and parts[0] == "custom-model":
                raise
        return active_table().spec_for(model_id, "modelId")

    def list_custom_models(
        self, request: ListCustomModelsRequest | dict[str, Any] | None = None
    ) -> ListCustomModelsResponse:
        """``ListCustomModels`` with name/time/base-model/status filters and paging."""
        req = parse_wire(ListCustomModelsRequest, request or {})
        base_model = req.baseModelArnEquals or req.foundationModelArnEquals
        query = ListQuery.of(
            req,
            req.creationTimeAfter,
            req.creationTimeBefore,
            req.modelStatus,
            ("json_extract(doc, '$.baseModelArn') = ?", base_model),
        )
        rows, token = self.store.page("custom_models", query.as_page())
        return ListCustomModelsResponse(
            nextToken=token, modelSummaries=[_model_summary(r["doc"]) for r in rows]
        )

    def delete_custom_model(self, identifier: str) -> None:
        """``DeleteCustomModel``: refused while a deployment uses it; removes weights it owns."""
        row = self._model_row(identifier)
        with self.store.transaction() as db:
            for table, what in (("deployments", "deployments"), ("provisioned", "provisioned throughput")):
                if db.execute(f"SELECT 1 FROM {table} WHERE model_arn = ?", (row["arn"],)).fetchone():
                    raise ConflictError(f"custom model {row['name']!r} has {what}; delete them first")
            db.execute("DELETE FROM custom_models WHERE id = ?", (row["id"],))
        model_dir = Path(row["model_dir"] or "")
        if row["model_dir"] and model_dir.resolve().is_relative_to(self.jobs_root.resolve()):
            shutil.rmtree(model_dir, ignore_errors=True)


# ------------------------------------------------------------------------------- pure helpers


def _check_hyperparameters(req: CreateModelCustomizationJobRequest) -> None:
    """Refuse bad hyperparameters at create time, as Bedrock does, not an hour into the job."""
    try:
        from stillhouse.train.hparams import parse_hyperparameters
    except ImportError:  # the training extra is optional for the control plane
        return
    parse_hyperparameters(req.hyperParameters)


def _new_job(job_id: str, req: CreateModelCustomizationJobRequest) -> ModelCustomizationJob:
    at = state.now()
    return ModelCustomizationJob(
        jobArn=arns.job_arn(job_id),
        jobName=req.jobName,
        outputModelName=req.customModelName,
        clientRequestToken=req.clientRequestToken,
        roleArn=req.roleArn,
        status="InProgress",
        statusDetails=state.fresh_details(),
        creationTime=at,
        lastModifiedTime=at,
        baseModelArn=arns.base_model_arn(req.baseModelIdentifier),
        hyperParameters=req.hyperParameters,
        trainingDataConfig=req.trainingDataConfig,
        validationDataConfig=req.validationDataConfig,
        outputDataConfig=req.outputDataConfig,
        customizationType=req.customizationType,
        outputModelKmsKeyArn=req.customModelKmsKeyId,
        vpcConfig=req.vpcConfig,
        customizationConfig=req.customizationConfig,
    )


def _summary(doc: str) -> ModelCustomizationJobSummary:
    job = ModelCustomizationJob.model_validate_json(doc)
    return ModelCustomizationJobSummary(
        jobArn=job.jobArn,
        baseModelArn=job.baseModelArn,
        jobName=job.jobName,
        status=job.status,
        statusDetails=job.statusDetails,
        lastModifiedTime=job.lastModifiedTime,
        creationTime=job.creationTime,
        endTime=job.endTime,
        customModelArn=job.outputModelArn,
        customModelName=job.outputModelName,
        customizationType=job.customizationType,
    )


def _custom_model(
    job: ModelCustomizationJob, training_loss: float | None, validation_loss: float | None
) -> CustomModel:
    return CustomModel(
        modelArn=arns.custom_model_arn(job.outputModelName, secrets.token_hex(6)),
        modelName=job.outputModelName,
        jobName=job.jobName,
        jobArn=job.jobArn,
        baseModelArn=job.baseModelArn,
        customizationType=job.customizationType,
        modelKmsKeyArn=job.outputModelKmsKeyArn,
        hyperParameters=job.hyperParameters,
        trainingDataConfig=job.trainingDataConfig,
        validationDataConfig=job.validationDataConfig,
        outputDataConfig=job.outputDataConfig,
        trainingMetrics=TrainingMetrics(trainingLoss=training_loss),
        validationMetrics=[ValidatorMetric(validationLoss=validation_loss)]
        if validation_loss is not None
        else None,
        creationTime=state.now(),
        customizationConfig=job.customizationConfig,
        modelStatus="Active",
    )


def _model_summary(doc: str) -> CustomModelSummary:
    model = CustomModel.model_validate_json(doc)
    return CustomModelSummary(
        modelArn=model.modelArn,
        modelName=model.modelName,
        creationTime=model.creationTime,
        baseModelArn=model.baseModelArn,
        baseModelName=model.baseModelArn.rsplit("/", 1)[-1],
        customizationType=model.customizationType,
        ownerAccountId=arns.account(),
        modelStatus=model.modelStatus,
    )
