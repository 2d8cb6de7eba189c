"""Model customization jobs (distillation, fine-tuning), the custom models they produce, deployments.

Public API (what the HTTP server and the CLI use)::

    from stillhouse.jobs import JobService
    service = JobService()                       # $STILLHOUSE_HOME/jobs.db, job folders beside it
    arn = service.create_job(request_dict).jobArn    # CreateModelCustomizationJob body (dict or model)
    service.get_job(arn_or_name)                 # -> ModelCustomizationJob (GetModelCustomizationJob)
    service.list_jobs({"statusEquals": "InProgress", "maxResults": 10})  # -> ...Response, nextToken
    service.stop_job(arn_or_name)
    service.get_custom_model(arn_or_name) / list_custom_models(...) / delete_custom_model(...)
    service.custom_model_dir(arn_or_name)        # the weights folder to load for inference
    service.create_deployment({...}) / get_deployment / list_deployments / delete_deployment
    service.mark_deployment(arn_or_name, "Active" | "Failed", failure=None)   # the server reports loading
    from stillhouse.jobs.worker import start_workers
    pool = start_workers(service, 2)             # background worker processes; pool.stop()

Every response is a pydantic model in Bedrock's field names: serialise with
``model.model_dump(mode="json", exclude_none=True)``. Errors are :mod:`stillhouse.errors` types
(``InvalidInputError`` 400, ``NotFoundError`` 404, ``ConflictError`` 409).
"""

from stillhouse.jobs.schema import (
    CreateCustomModelDeploymentRequest,
    CreateCustomModelDeploymentResponse,
    CreateModelCustomizationJobRequest,
    CreateModelCustomizationJobResponse,
    CustomModel,
    CustomModelDeployment,
    CustomModelDeploymentSummary,
    CustomModelSummary,
    ListCustomModelDeploymentsRequest,
    ListCustomModelDeploymentsResponse,
    ListCustomModelsRequest,
    ListCustomModelsResponse,
    ListModelCustomizationJobsRequest,
    ListModelCustomizationJobsResponse,
    ModelCustomizationJob,
    ModelCustomizationJobSummary,
)
from stillhouse.jobs.service import JobService

__all__ = [
    "CreateCustomModelDeploymentRequest",
    "CreateCustomModelDeploymentResponse",
    "CreateModelCustomizationJobRequest",
    "CreateModelCustomizationJobResponse",
    "CustomModel",
    "CustomModelDeployment",
    "CustomModelDeploymentSummary",
    "CustomModelSummary",
    "JobService",
    "ListCustomModelDeploymentsRequest",
    "ListCustomModelDeploymentsResponse",
    "ListCustomModelsRequest",
    "ListCustomModelsResponse",
    "ListModelCustomizationJobsRequest",
    "ListModelCustomizationJobsResponse",
    "ModelCustomizationJob",
    "ModelCustomizationJobSummary",
]
