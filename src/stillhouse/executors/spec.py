"""Which executor a run asks for, parsed once: ``local``, ``ray`` (a new local cluster, or the one
``RAY_ADDRESS`` names) or ``ray://HOST:PORT`` (join that cluster through Ray Client). Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stillhouse.errors import InvalidInputError

# Set by ``stillhouse serve --executor/--actors`` for the job worker processes it starts.
ENV_EXECUTOR, ENV_ACTORS = "STILLHOUSE_EXECUTOR", "STILLHOUSE_ACTORS"
FORMS = "local, ray (a local cluster, or RAY_ADDRESS) or ray://HOST:PORT"
_CLIENT = re.compile(
    r"^ray://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(?P<port>[0-9]{1,5})$"
)


class ExecutorSpec(BaseModel):
    """A parsed executor. ``address`` is None for a cluster this process starts (``ray.init(num_cpus=
    cpus)``), ``"auto"`` or ``HOST:PORT`` for a running one (``RAY_ADDRESS``), ``ray://HOST:PORT``
    for Ray Client. ``actors`` is how many workers a stage gets (default: as many as the cluster's
    CPUs hold at the stage's share); ``gpus`` is each actor's GPU share; ``rate`` spaces the calls
    (a remote HTTP teacher's quota, shared by every actor because the driver sends them all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["local", "ray"] = "local"
    address: str | None = None
    cpus: int | None = Field(default=None, ge=1)
    actors: int | None = Field(default=None, ge=1)
    gpus: float = Field(default=0.0, ge=0.0)
    rate: float | None = Field(default=None, gt=0.0, description="calls per second the driver sends at most")

    @property
    def description(self) -> str:
        """Where it runs, as a job's page says it: ``local``, ``ray (local cluster)``, ``ray://h:p``."""
        if self.kind == "local":
            return "local"
        return f"ray ({self.address})" if self.address else "ray (local cluster)"


def parse_executor(
    text: str | None,
    env: Mapping[str, str] | None = None,
    *,
    actors: int | None = None,
    cpus: int | None = None,
    gpus: float = 0.0,
    rate: float | None = None,
) -> ExecutorSpec:
    """The executor ``text`` names (None: local); ``env`` (default none) supplies ``RAY_ADDRESS`` to a
    bare ``ray``. :class:`InvalidInputError` (field ``executor``) for anything else."""
    value = (text or "local").strip()
    extra = {"actors": actors, "cpus": cpus, "gpus": gpus, "rate": rate}
    if value == "local":
        given = [name for name, v in (("actors", actors), ("cpus", cpus), ("rate", rate)) if v is not None]
        if given or gpus:
            raise InvalidInputError(
                f"{', '.join(given or ['gpus'])} apply to a Ray executor; the local one runs in this process",
                field="executor",
            )
        return ExecutorSpec(kind="local")
    if value == "ray":
        address = (env or {}).get("RAY_ADDRESS", "").strip() or None
        if address is not None and address.startswith("ray://"):
            _check_client(address, "RAY_ADDRESS")
        return ExecutorSpec(kind="ray", address=address, **extra)
    if value.startswith("ray://"):
        _check_client(value, "executor")
        return ExecutorSpec(kind="ray", address=value, **extra)
    raise InvalidInputError(f"unknown executor {value!r}: use {FORMS}", field="executor")


def _check_client(address: str, field: str) -> None:
    match = _CLIENT.match(address)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise InvalidInputError(
            f"malformed Ray address {address!r}: expected ray://HOST:PORT with a port in 1-65535, "
            "e.g. ray://head-node:10001",
            field=field,
        )


def executor_from_env(env: Mapping[str, str]) -> ExecutorSpec:
    """The executor a job worker's stages use: :data:`ENV_EXECUTOR` (default local) with
    :data:`ENV_ACTORS` and ``RAY_ADDRESS``, as ``stillhouse serve`` set them."""
    actors = env.get(ENV_ACTORS, "").strip()
    if actors and not actors.isdigit():
        raise InvalidInputError(f"{ENV_ACTORS}={actors!r} is not a number of actors", field=ENV_ACTORS)
    return parse_executor(env.get(ENV_EXECUTOR), env, actors=int(actors) if actors else None)
