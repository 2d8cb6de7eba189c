"""Bedrock-shaped ARNs for jobs, custom models and deployments, and identifier resolution.

The account is cosmetic here (one self-hosted account); ``STILLHOUSE_REGION`` and
``STILLHOUSE_ACCOUNT_ID`` let a user make ARNs match the ones their tooling expects. The region is
also the one ``stillhouse serve`` accepts in a SigV4 credential scope, as a regional AWS endpoint does.
"""

from __future__ import annotations

import os
import re

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "000000000000"
_ARN = re.compile(r"^arn:aws(-[^:]+)?:bedrock:[^:]*:[^:]*:(?P<kind>[a-z\-]+)/(?P<rest>.+)$")


def region() -> str:
    return os.environ.get("STILLHOUSE_REGION", DEFAULT_REGION)


def account() -> str:
    return os.environ.get("STILLHOUSE_ACCOUNT_ID", DEFAULT_ACCOUNT)


def resource_arn(kind: str, resource_id: str) -> str:
    """``arn:aws:bedrock:<region>:<account>:<kind>/<id>``."""
    return f"arn:aws:bedrock:{region()}:{account()}:{kind}/{resource_id}"


def job_arn(job_id: str) -> str:
    return resource_arn("model-customization-job", job_id)


def custom_model_arn(name: str, model_id: str) -> str:
    return resource_arn("custom-model", f"{name}-{model_id}")


def deployment_arn(deployment_id: str) -> str:
    return resource_arn("custom-model-deployment", deployment_id)


def base_model_arn(identifier: str) -> str:
    """A foundation-model ARN for a student spec (an ARN given by the caller is kept as it is)."""
    if identifier.startswith("arn:"):
        return identifier
    return f"arn:aws:bedrock:{region()}::foundation-model/{identifier}"


def split_arn(identifier: str) -> tuple[str, str] | None:
    """``(kind, rest)`` of a Bedrock ARN, or ``None`` when ``identifier`` is a plain name or id."""
    match = _ARN.match(identifier)
    return (match["kind"], match["rest"]) if match else None
