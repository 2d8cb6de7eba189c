"""Fixtures for the server tests: a temporary STILLHOUSE_HOME, a job service, a FakeModel-backed app,
the app served by uvicorn on a free loopback port, and boto3 clients pointed at it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.serve.helpers import (
    boto_client,
    fake_loader,
    free_port,
    server_settings,
)

from stillhouse.serve.settings import ServerSettings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STILLHOUSE_HOME", str(tmp_path))
    monkeypatch.setenv("STILLHOUSE_S3_ROOT", str(tmp_path / "s3"))
    monkeypatch.delenv("STILLHOUSE_S3_BACKEND", raising=False)
    return tmp_path


@pytest.fixture
def jobs(home: Path) -> Any:
    from stillhouse.jobs.service import JobService

    return JobService(home / "jobs.db")


@pytest.fixture
def settings() -> ServerSettings:
    return server_settings()


@pytest.fixture
def model_loader() -> Any:
    """What the app loads a model spec with: FakeModels here; a module serving real models overrides it."""
    return fake_loader


@pytest.fixture
def catalog_names() -> frozenset[str]:
    """The specs the app loads on first call (catalog models); a module may override it too."""
    return frozenset({"fake-catalog"})


@pytest.fixture
def app(
    settings: ServerSettings, jobs: Any, home: Path, model_loader: Any, catalog_names: frozenset[str]
) -> Any:
    from stillhouse.serve.app import create_app
    from stillhouse.sources.objectstore import LocalObjectStore

    return create_app(
        settings,
        jobs=jobs,
        model_loader=model_loader,
        store_factory=lambda: LocalObjectStore(home / "s3"),
        catalog_names=catalog_names,
    )


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture
def server(app: Any) -> Iterator[str]:
    """The app on a real loopback socket (boto3 needs one), stopped after the test."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def bedrock(server: str) -> Any:
    return boto_client("bedrock", server)


@pytest.fixture
def runtime(server: str) -> Any:
    return boto_client("bedrock-runtime", server)
