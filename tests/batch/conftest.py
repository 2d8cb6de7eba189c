"""Fixtures for the batch tests: a job service on a private database and object store."""

from __future__ import annotations

from pathlib import Path

import pytest

from stillhouse.jobs import JobService


@pytest.fixture
def service(stillhouse_home: Path) -> JobService:
    return JobService(stillhouse_home / "jobs.db")
