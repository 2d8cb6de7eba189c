"""``route-head:SPEC`` end to end on a tiny llama.cpp student: the CLI's search routes by the
student's route scores, and its call is in the invocation log, read back as the flywheel reads it."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from stillhouse.errors import InvalidInputError
from stillhouse.search import config as cfg
from stillhouse.search.ingest import add_segments
from stillhouse.search.routing import RouteHeadRouter, resolve_router
from stillhouse.tasks.video_router.prompt import MODALITIES

pytestmark = pytest.mark.model

LOGS = "s3://stillhouse-logs/invocation-logs"


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A published router student's folder: the tiny Llama, its ``model.gguf`` and its manifest."""
    pytest.importorskip("llama_cpp")
    from tests.tiny_llama import write_tiny_gguf
    from tests.train.conftest import build_tiny_student

    from stillhouse.models.manifest import write_manifest

    folder = build_tiny_student(tmp_path_factory.mktemp("student"))
    write_tiny_gguf(folder)
    write_manifest(folder, "video-router")
    return folder


def test_a_route_head_spec_routes_a_cli_search_and_logs_the_call(
    home: Path, segment_file: Path, student: Path
):
    from typer.testing import CliRunner

    from stillhouse.cli import app
    from stillhouse.router.trainer import training_pairs
    from stillhouse.sources.invocation_logs import InvocationLogsConfig, read_invocation_logs

    add_segments("idx", segment_file, ingest=cfg.IngestConfig(embedder="hashing"))
    spec = f"route-head:{student}"
    out = CliRunner().invoke(
        app, ["search", "query", "red car", "--index", "idx", "--router", spec, "--json"]
    )
    assert out.exit_code == 0, out.output
    body = json.loads(out.output[out.output.index("{") :])
    assert body["router"] == spec and body["reasoning"] is None and body["results"]
    assert sum(body["weights"].values()) == pytest.approx(1.0)

    config = InvocationLogsConfig.model_validate(
        {
            "usePromptResponse": True,
            "invocationLogSource": {"s3Uri": LOGS},
            "requestMetadataFilters": {"equals": {"use_case": "video-search-router"}},
        }
    )
    (record,), report = read_invocation_logs(config, teacher_model_id=None)
    assert report.kept == 1 and record.prompt_turns[-1].text == "red car"
    assert record.system_text.startswith("You route video search queries")  # the task's request
    queries, targets, skipped = training_pairs([record])  # the fast router re-fits from it
    assert queries == ["red car"] and not skipped
    assert targets[0] == pytest.approx([body["weights"][m] for m in body["weights"]], abs=0.01)
    # a distillation job keeping logged answers keeps its teacher's only
    _, report = read_invocation_logs(config, teacher_model_id="qwen2.5-coder-1.5b")
    assert report.kept == 0 and report.other_model == 1


def test_the_weights_are_the_students_route_scores_mixed_over_the_golden_prior(student: Path):
    from stillhouse.models import load_model
    from stillhouse.tasks import get_task
    from stillhouse.tasks.video_router.golden import load_golden
    from stillhouse.tasks.video_router.route_head import mixed_weights, route_prior

    router = resolve_router(f"route-head:{student / 'model.gguf'}")  # its GGUF names the folder too
    assert isinstance(router, RouteHeadRouter)
    scores = load_model(str(student)).option_logprobs(get_task("video-router").messages("a dog barking"))
    assert set(scores) == set(MODALITIES) and all(-math.inf < v < 0 for v in scores.values())
    expected = mixed_weights(scores, route_prior(load_golden()))
    assert router.route("a dog barking", index="i").weights == pytest.approx(expected, abs=1e-6)
    assert router.route("a dog barking", index="i").weights == pytest.approx(expected, abs=1e-6)


def test_a_plain_gguf_without_a_student_manifest_is_refused(student: Path, tmp_path: Path):
    plain = tmp_path / "plain.gguf"
    shutil.copy(student / "model.gguf", plain)
    with pytest.raises(InvalidInputError, match="cannot score its route") as caught:
        resolve_router(f"route-head:llamacpp:{plain}")
    assert caught.value.field == "router"


def test_post_search_takes_a_route_head_the_server_offers(
    home: Path, segment_file: Path, student: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from fastapi.testclient import TestClient

    from stillhouse.serve.app import create_app
    from stillhouse.serve.settings import ServerSettings
    from stillhouse.sources.objectstore import LocalObjectStore

    add_segments("idx", segment_file, ingest=cfg.IngestConfig(embedder="hashing"))
    spec, plain = f"route-head:{student}", f"route-head:llamacpp:{tmp_path / 'plain.gguf'}"
    shutil.copy(student / "model.gguf", tmp_path / "plain.gguf")
    monkeypatch.setenv("STILLHOUSE_SEARCH_ROUTERS", f"{spec},{plain}")
    settings = ServerSettings(api_key="sk-t", start_job_workers=False, log_flush_records=1000)
    app = create_app(
        settings, store_factory=lambda: LocalObjectStore(tmp_path / "s3"), catalog_names=frozenset()
    )
    with TestClient(app) as client:
        body = json.dumps({"query": "piano music", "index": "idx", "router": spec})
        response = client.post("/search", content=body, headers={"Authorization": "Bearer sk-t"})
        assert response.status_code == 200, response.text
        assert response.json()["router"] == spec
        body = json.dumps({"query": "piano music", "index": "idx", "router": plain})
        refused = client.post("/search", content=body, headers={"Authorization": "Bearer sk-t"})
        assert refused.status_code == 400 and "cannot score its route" in refused.json()["message"]
