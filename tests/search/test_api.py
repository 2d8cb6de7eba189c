"""POST /search (bearer auth), the CLI, and the flywheel: routing calls logged as Converse calls
with the search's requestMetadata, read back by a metadata-filtered invocation-log source and
used to re-fit the router."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.search.conftest import tiny_router

from stillhouse.errors import InvalidInputError
from stillhouse.search import config as cfg
from stillhouse.search.ingest import add_segments

pytest.importorskip("lancedb")
pytest.importorskip("fastapi")

API_KEY = "sk-search-test"
LOGS = "s3://stillhouse-logs/invocation-logs"


@pytest.fixture
def indexed(home: Path, segment_file: Path) -> str:
    add_segments("idx", segment_file, ingest=cfg.IngestConfig(embedder="hashing"))
    return "idx"


@pytest.fixture
def client(home: Path, tmp_path: Path) -> Any:
    from fastapi.testclient import TestClient

    from stillhouse.serve.app import create_app
    from stillhouse.serve.settings import ServerSettings
    from stillhouse.sources.objectstore import LocalObjectStore

    settings = ServerSettings(
        api_key=API_KEY, start_job_workers=False, log_flush_records=1000, log_flush_seconds=60
    )
    app = create_app(
        settings, store_factory=lambda: LocalObjectStore(tmp_path / "s3"), catalog_names=frozenset()
    )
    with TestClient(app) as c:
        yield c


def _post(client: Any, body: dict, key: str | None = API_KEY) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return client.post("/search", content=json.dumps(body), headers=headers)


@pytest.mark.parametrize("key", [None, "sk-wrong"])
def test_post_search_refuses_a_missing_or_wrong_key(client: Any, indexed: str, key: str | None):
    response = _post(client, {"query": "piano", "index": indexed, "weights": "0,1,0,0"}, key=key)
    assert response.status_code == 401  # the OpenAI API's bearer check, answered as OpenAI does
    assert response.headers["x-amzn-errortype"].startswith("AccessDeniedException")
    expected = "You didn't provide an API key" if key is None else "Incorrect API key provided"
    assert response.json()["message"].startswith(expected)


def test_post_search_answers_the_query_object(client: Any, indexed: str):
    response = _post(
        client, {"query": "grand piano applause", "index": indexed, "weights": "0.05,0.8,0.05,0.1", "k": 3}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"weights", "router", "reasoning", "results", "timings_ms"}
    assert set(body["timings_ms"]) == {"route", "retrieve", "total"}
    top = body["results"][0]
    assert set(top) == {
        "video_id",
        "start",
        "end",
        "score",
        "scores",
        "evidence",
        "segment_id",
        "title",
        "keyframe",
        "media",
    }
    assert set(top["scores"]) == {"visual", "audio", "transcription", "metadata"}
    assert (top["video_id"], top["start"]) == ("concert", 0.0)
    assert (top["title"], top["keyframe"], top["media"]) == ("Concert night", None, None)
    assert len(body["results"]) == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": "", "index": "idx"}, "query"),
        ({"query": "x", "index": "idx", "k": 0}, "k"),
        ({"query": "x", "index": "idx", "fusion": "best"}, "fusion"),
        ({"query": "x", "index": "idx", "colour": 1}, "colour"),
        ({"query": "x", "index": "idx", "weights": "1,2"}, "weights"),
        ({"query": "x", "index": "idx", "weights": "1,-1,1,1"}, "weights"),
        ({"query": "x", "index": "idx", "weights": "0,0,0,0"}, "weights"),
        ({"query": "x", "index": "idx", "weights": {"visual": 1.0}}, "weights"),
        (
            {
                "query": "x",
                "index": "idx",
                "weights": {"visual": "a", "audio": 0, "transcription": 0, "metadata": 0},
            },
            "weights",
        ),
        ({"query": "x", "index": "../etc", "weights": "1,1,1,1"}, "index"),
        ({"query": "x", "index": "idx", "merge_gap": -1}, "merge_gap"),
    ],
)
def test_post_search_refuses_bad_options_naming_the_field(client: Any, indexed: str, body: dict, field: str):
    response = _post(client, body)
    assert response.status_code == 400, response.text
    assert field in response.json()["message"]


def test_post_search_takes_weights_by_name_and_fills_k_for_the_baseline(client: Any, indexed: str):
    named = {"visual": 1, "audio": 3, "transcription": 0, "metadata": 0}
    body = _post(client, {"query": "piano", "index": indexed, "weights": named}).json()
    assert body["weights"] == {"visual": 0.25, "audio": 0.75, "transcription": 0.0, "metadata": 0.0}
    combined = _post(
        client, {"query": "piano", "index": indexed, "fusion": "combined", "k": 6, "candidates": 2}
    )
    assert len(combined.json()["results"]) == 6


def test_results_carry_the_segment_id_keyframe_and_media_the_index_recorded(
    client: Any, home: Path, tmp_path: Path
):
    from tests.search.conftest import SEGMENTS, write_segments

    rows = [{**SEGMENTS[2], "keyframe": "/v/concert-0.jpg", "media": "/v/concert.mp4"}, SEGMENTS[4]]
    add_segments(
        "media", write_segments(tmp_path / "m.jsonl", rows), ingest=cfg.IngestConfig(embedder="hashing")
    )
    # min_weight 0: the second segment has no audio, so only a search of its other channels finds it
    options = {"weights": "0,1,0,0", "k": 2, "min_weight": 0}
    body = _post(client, {"query": "grand piano", "index": "media", **options}).json()
    first, second = body["results"]
    assert (first["segment_id"], first["keyframe"], first["media"]) == (
        0,
        "/v/concert-0.jpg",
        "/v/concert.mp4",
    )
    assert (second["segment_id"], second["keyframe"], second["media"], second["title"]) == (
        1,
        None,
        None,
        "Finance 101",
    )


def test_a_search_skips_the_modalities_its_weights_all_but_dismiss(client: Any, indexed: str):
    def scored(min_weight: float | None) -> set[str]:
        options = {} if min_weight is None else {"min_weight": min_weight}
        body = {"query": "grand piano", "index": indexed, "weights": "0.05,0.95,0,0", **options}
        results = _post(client, body).json()["results"]
        return {m for r in results for m, s in r["scores"].items() if s is not None}

    assert scored(None) == {"audio"}  # the default floor, 0.1: visual (0.05) is not searched
    assert scored(0.05) == {"visual", "audio"}
    assert _post(client, {"query": "piano", "index": indexed, "min_weight": 1.5}).status_code == 400


def test_post_search_on_a_missing_index_is_not_found(client: Any, home: Path):
    response = _post(client, {"query": "x", "index": "nope", "weights": "1,1,1,1"})
    assert response.status_code == 404


def test_post_search_refuses_a_router_the_server_does_not_offer(
    client: Any, indexed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    folder = tiny_router(tmp_path / "router")
    response = _post(client, {"query": "x", "index": indexed, "router": str(folder)})
    assert response.status_code == 400 and "router" in response.json()["message"]
    monkeypatch.setenv("STILLHOUSE_SEARCH_ROUTERS", f"other, {folder}")
    assert _post(client, {"query": "x", "index": indexed, "router": str(folder)}).status_code == 200


def test_the_flywheel_logs_routing_calls_and_re_distils_the_router(
    client: Any, indexed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from stillhouse.router.fast_router import FastRouter
    from stillhouse.router.trainer import fit, training_pairs
    from stillhouse.sources.invocation_logs import InvocationLogsConfig, read_invocation_logs
    from stillhouse.sources.objectstore import LocalObjectStore

    folder = tiny_router(tmp_path / "router")
    monkeypatch.setenv("STILLHOUSE_SEARCH_ROUTER", str(folder))  # the server's default router
    queries = ["grand piano applause", "quarterly earnings", "red car driving"]
    for q in queries:
        response = _post(client, {"query": q, "index": indexed})
        assert response.status_code == 200, response.text
        assert response.json()["router"].startswith("fast-router:")
    _post(client, {"query": "not routed", "index": indexed, "weights": "1,1,1,1"})  # fixed weights: no call
    client.app.state.ctx.logs.flush()

    config = InvocationLogsConfig.model_validate(
        {
            "usePromptResponse": True,
            "invocationLogSource": {"s3Uri": LOGS},
            "requestMetadataFilters": {
                "andAll": [{"equals": {"use_case": "video-search-router"}}, {"equals": {"index": indexed}}]
            },
        }
    )
    records, report = read_invocation_logs(
        config, teacher_model_id=None, store=LocalObjectStore(tmp_path / "s3")
    )
    assert report.kept == 3 and not report.problems
    assert [r.messages[0].text for r in records] == queries
    assert records[0].system_text.startswith("You route video search queries")
    texts, targets, _ = training_pairs(records)
    assert texts == queries and targets.shape == (3, 4)
    router = FastRouter.load(folder)
    report = fit(router, texts, targets, warm_start=True)
    assert report.examples == 3


def test_the_cli_indexes_queries_and_logs_its_routing_call(home: Path, tmp_path: Path, segment_file: Path):
    from typer.testing import CliRunner

    from stillhouse.cli import app
    from stillhouse.sources.invocation_logs import iter_log_lines
    from stillhouse.sources.objectstore import open_store

    runner = CliRunner()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(segment_file.read_text() + '{"video_id": 3}\n')
    added = runner.invoke(
        app, ["search", "add-segments", str(bad), "--index", "cli", "--embedder", "hashing"]
    )
    assert added.exit_code == 1, added.output
    assert "line 7: video_id: " in added.output and "6 segments added to cli v1" in added.output

    folder = tiny_router(tmp_path / "router")
    out = runner.invoke(
        app, ["search", "query", "grand piano applause", "--index", "cli", "--router", str(folder), "--json"]
    )
    assert out.exit_code == 0, out.output
    body = json.loads(out.output[out.output.index("{") :])
    assert body["results"][0]["video_id"] == "concert"
    assert sum(body["weights"].values()) == pytest.approx(1.0)

    store = open_store()
    (uri,) = [u for u in store.list("s3://stillhouse-logs/") if u.endswith(".json.gz")]
    (line,) = [json.loads(text) for _, text in iter_log_lines(uri, store.get_bytes(uri))]
    assert line["operation"] == "Converse"
    assert line["requestMetadata"] == {"use_case": "video-search-router", "index": "cli"}
    assert line["input"]["inputBodyJson"]["messages"][0]["content"][0]["text"] == "grand piano applause"
    assert (
        json.loads(line["output"]["outputBodyJson"]["output"]["message"]["content"][0]["text"])["audio"] > 0.3
    )

    refused = runner.invoke(app, ["search", "query", "x", "--index", "cli", "--weights", "a,b,c,d"])
    assert isinstance(refused.exception, InvalidInputError) and refused.exception.field == "weights"


def test_the_cli_rebuilds_a_new_version_and_shows_the_manifest(home: Path, segment_file: Path):
    from typer.testing import CliRunner

    from stillhouse.cli import app

    runner = CliRunner()
    assert (
        runner.invoke(
            app, ["search", "add-segments", str(segment_file), "--index", "v", "--embedder", "hashing"]
        ).exit_code
        == 0
    )
    rebuilt = runner.invoke(app, ["search", "rebuild", "--index", "v", "--embedder", "hashing:32"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "v v2: 6 segments" in rebuilt.output
    shown = runner.invoke(app, ["search", "info", "--index", "v"])
    manifest = json.loads(shown.output)
    assert [v["config"]["embedder"] for v in manifest["versions"]] == ["hashing", "hashing:32"]
    old = runner.invoke(
        app, ["search", "query", "piano", "--index", "v", "--version", "1", "--weights", "0,1,0,0", "--json"]
    )
    assert json.loads(old.output[old.output.index("{") :])["results"][0]["video_id"] == "concert"
