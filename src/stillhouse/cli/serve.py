"""CLI: `stillhouse serve` (registered on import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stillhouse.cli.app import ActorsOption, ExecutorOption, app, executor_spec


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Interface to listen on (loopback unless you mean otherwise).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    workers: Annotated[int, typer.Option(help="Inference threads (model replicas) per deployed model.")] = 1,
    model_threads: Annotated[
        int | None, typer.Option(help="Compute threads per replica (default: cores / workers).")
    ] = None,
    job_workers: Annotated[int, typer.Option(help="Background job worker processes (0: run none here).")] = 1,
    train_processes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes each customization job trains on (DDP; env STILLHOUSE_TRAIN_PROCESSES).",
        ),
    ] = 1,
    executor: ExecutorOption = "local",
    actors: ActorsOption = None,
    access_key_id: Annotated[
        str | None, typer.Option(help="Access key id for SigV4 (env STILLHOUSE_ACCESS_KEY_ID).")
    ] = None,
    secret_access_key: Annotated[
        str | None, typer.Option(help="Secret key for SigV4 (env STILLHOUSE_SECRET_ACCESS_KEY).")
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="Bearer key for /v1 (env STILLHOUSE_API_KEY).")] = None,
    region: Annotated[
        str | None,
        typer.Option(
            help="Region named in ARNs and the one SigV4 clients must sign for (env STILLHOUSE_REGION)."
        ),
    ] = None,
    invocation_log_uri: Annotated[
        str, typer.Option(help="Where runtime calls are logged (s3:// in the object store).")
    ] = "s3://stillhouse-logs/invocation-logs",
    db: Annotated[Path | None, typer.Option(help="Job database (default $STILLHOUSE_HOME/jobs.db).")] = None,
    foundation_models: Annotated[
        Path | None,
        typer.Option(
            help='JSON {"amazon.nova-pro-v1:0": "SPEC", ...}: Bedrock model ids and the local models '
            "that answer for them, added to the defaults (env STILLHOUSE_FOUNDATION_MODELS)."
        ),
    ] = None,
    foundation_models_only: Annotated[
        bool, typer.Option(help="The --foundation-models file replaces the default table.")
    ] = False,
) -> None:
    """Serve the Bedrock control plane and runtime (SigV4) and the OpenAI API (bearer) over HTTP.

    boto3's `bedrock` and `bedrock-runtime` clients work against it given `endpoint_url`, and so
    does the `openai` client given `base_url=http://HOST:PORT/v1`. Job workers run beside it.
    Prefer the environment variables for secrets: command-line flags are visible in `ps`.
    """
    import os

    from stillhouse.executors.spec import ENV_ACTORS, ENV_EXECUTOR
    from stillhouse.jobs import arns
    from stillhouse.serve.launch import LaunchConfig, run_server
    from stillhouse.serve.settings import settings_from_env

    if train_processes > 1:  # the job workers read it when a job reaches training
        from stillhouse.train.launch import PROCESSES_ENV

        os.environ[PROCESSES_ENV] = str(train_processes)
    executor_spec(executor, actors)  # a bad spec: one line, exit 2, before anything starts
    os.environ[ENV_EXECUTOR] = executor  # the job workers' data stages run there
    if actors is not None:
        os.environ[ENV_ACTORS] = str(actors)
    if region:  # ARNs are minted by the job service and its worker processes, which read the env
        os.environ["STILLHOUSE_REGION"] = region
    if foundation_models is not None:  # the job workers map a job's model ids through the same file
        from stillhouse.models.foundation import ENV_FILE, ENV_ONLY, load_table

        load_table(foundation_models, only=foundation_models_only)  # a bad file: one line, exit 2
        os.environ[ENV_FILE] = str(foundation_models.resolve())
        os.environ[ENV_ONLY] = "1" if foundation_models_only else "0"
    settings = settings_from_env(
        host=host,
        port=port,
        workers=workers,
        model_threads=model_threads,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        api_key=api_key,
        region=arns.region(),
        invocation_log_uri=invocation_log_uri,
    )
    run_server(
        settings,
        LaunchConfig(db=db, job_workers=job_workers),
        on_ready=lambda url: typer.secho(
            f"stillhouse serving on {url} ({job_workers} job worker(s))"
            + (f"; web console at {url}/console" if settings.api_key else ""),
            err=True,
        ),
    )
