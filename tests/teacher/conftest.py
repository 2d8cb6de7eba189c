"""Fixtures for the teacher tests (helpers live in :mod:`.helpers`)."""

from __future__ import annotations

import pytest
from tests.teacher.helpers import ROUTER_QUERIES, MixTask, prompt_record

from stillhouse.records.schema import ConversationRecord


@pytest.fixture
def task() -> MixTask:
    return MixTask()


@pytest.fixture
def prompts() -> list[ConversationRecord]:
    return [prompt_record(q) for q in ROUTER_QUERIES]


@pytest.fixture
def embedder():
    """The deterministic pure-numpy embedder of :mod:`stillhouse.models.embeddings`."""
    embeddings = pytest.importorskip("stillhouse.models.embeddings")
    return embeddings.HashingEmbedder()


@pytest.fixture(autouse=True)
def _private_home(stillhouse_home):
    """Every teacher test gets its own STILLHOUSE_HOME, so a default request cache never leaks."""
    return stillhouse_home
