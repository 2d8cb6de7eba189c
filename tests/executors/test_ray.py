"""Labelling on a local Ray cluster (one per module): the same files and cache as the local
executor, and an actor killed mid-run costs only its in-flight records."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from tests.conftest import prompt_record
from tests.executors.helpers import CountingLoad, echo_or_die, prompts, save_word_llama

from stillhouse.executors import open_executor, parse_executor
from stillhouse.models.lazy import LazyModel
from stillhouse.records.schema import ConversationRecord
from stillhouse.teacher.build import TeacherConfig, build_teacher
from stillhouse.teacher.label import LabelConfig, LabelSummary, label_records

pytestmark = pytest.mark.integration
N = 200
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    pytest.importorskip("torch")
    # The workers import the tests' helpers (the counting loader) as the driver does.
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]), "OMP_NUM_THREADS": "1"}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> str:
    pytest.importorskip("torch")
    return f"hf:{save_word_llama(tmp_path_factory.mktemp('teacher'))}"


@pytest.fixture(scope="module")
def records() -> list[ConversationRecord]:
    return [ConversationRecord.model_validate(prompt_record(text)) for text in prompts(N)]


def _label(records, spec, folder: Path, executor=None, delay=0.0, out="out.jsonl") -> LabelSummary:
    folder.mkdir(parents=True, exist_ok=True)
    model = LazyModel(spec, CountingLoad(spec, folder / "calls.log", delay))
    config = TeacherConfig(model=spec, shots=0, embedder=None, cache=folder / "cache.sqlite")
    with build_teacher(config, [], None, model=model) as teacher:
        return label_records(
            records,
            teacher,
            LabelConfig(max_tokens=2, progress=False),
            out_path=folder / out,
            executor=executor,
        )


def _cache_rows(path: Path) -> list[tuple[str, str, dict]]:
    """Every cached answer; its latency is the one field two runs never share."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT key, teacher, completion FROM requests ORDER BY key").fetchall()
    return [(key, teacher, {**json.loads(c), "latency_ms": None}) for key, teacher, c in rows]


def _calls(folder: Path) -> list[str]:
    log = folder / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture(scope="module")
def local_run(records, spec, tmp_path_factory) -> tuple[Path, LabelSummary]:
    folder = tmp_path_factory.mktemp("local")
    return folder, _label(records, spec, folder)


def test_ray_labels_the_same_files_and_cache_as_local_and_resumes_from_the_cache(
    cluster, records, spec, local_run, tmp_path
):
    local, local_summary = local_run
    with open_executor(parse_executor("ray", actors=2)) as executor:
        summary = _label(records, spec, tmp_path / "ray", executor)
        assert executor.info.workers == {"label": 2}
        # A second output from the same cache: every answer is settled in the driver, no actor asked.
        calls = len(_calls(tmp_path / "ray"))
        again = _label(records, spec, tmp_path / "ray", executor, out="again.jsonl")
    assert summary.labelled + summary.failed == N and summary.teacher_calls == local_summary.teacher_calls
    assert (tmp_path / "ray" / "out.jsonl").read_bytes() == (local / "out.jsonl").read_bytes()
    failures = "out.jsonl.failures.jsonl"
    assert (tmp_path / "ray" / failures).read_bytes() == (local / failures).read_bytes()
    assert _cache_rows(tmp_path / "ray" / "cache.sqlite") == _cache_rows(local / "cache.sqlite")
    assert calls == len(_calls(local)) == summary.teacher_calls
    assert again.teacher_calls == 0 and len(_calls(tmp_path / "ray")) == calls
    assert (tmp_path / "ray" / "again.jsonl").read_bytes() == (local / "out.jsonl").read_bytes()
    assert (again.labelled, again.from_cache, again.failed) == (
        summary.labelled,
        summary.labelled,
        summary.failed,
    )


def test_a_killed_actor_costs_only_its_in_flight_records(cluster, records, spec, local_run, tmp_path):
    local, local_summary = local_run
    folder = tmp_path / "killed"
    out, result = folder / "out.jsonl", {}
    with open_executor(parse_executor("ray", actors=2)) as executor:
        run = threading.Thread(
            target=lambda: result.update(summary=_label(records, spec, folder, executor, 0.02))
        )
        run.start()
        deadline = time.monotonic() + 120
        while (not out.exists() or len(out.read_text().splitlines()) < 20) and time.monotonic() < deadline:
            time.sleep(0.02)
        committed = len(out.read_text().splitlines())
        assert run.is_alive() and committed < N, "the run ended before an actor could be killed"
        cluster.kill(executor.live_actors()[0])
        run.join(timeout=180)
    summary = result["summary"]
    assert out.read_bytes() == (local / "out.jsonl").read_bytes()  # every record once, in order
    # Each record's answer counted once, as the local run counted it (an empty answer is asked again).
    assert summary.labelled + summary.failed == N and summary.teacher_calls == local_summary.teacher_calls
    calls, local_calls = Counter(_calls(folder)), Counter(_calls(local))
    repaid = calls - local_calls
    # Only the killed actor's in-flight records (at most its 2 of the window) were asked again.
    assert set(calls) == set(local_calls) and len(repaid) <= 2, repaid
    assert _cache_rows(folder / "cache.sqlite") == _cache_rows(local / "cache.sqlite")


def test_batch_inference_on_ray_writes_the_local_lines_and_cache(cluster, spec, tmp_path):
    from tests.batch.helpers import nova_input, record_line

    from stillhouse.batch.run import run_file
    from stillhouse.teacher.cache import RequestCache

    lines = [record_line(i, nova_input(text)) for i, text in enumerate(prompts(30))]
    lines[7] = '{"recordId": "broken", "modelInput": {"messages": "not a list"}}'
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")

    def run(name: str, executor=None):
        folder = tmp_path / name
        folder.mkdir()
        model = LazyModel(spec, CountingLoad(spec, folder / "calls.log"))
        with RequestCache(folder / "cache.sqlite") as cache:
            counts = run_file(
                tmp_path / "in.jsonl", model, folder / "out.jsonl", cache=cache, executor=executor
            )
        return folder, counts

    local, local_counts = run("local")
    with open_executor(parse_executor("ray", actors=2)) as executor:
        ray_dir, ray_counts = run("ray", executor)
    assert ray_counts == local_counts and ray_counts.errorRecordCount == 1
    assert (ray_dir / "out.jsonl").read_bytes() == (local / "out.jsonl").read_bytes()
    assert _cache_rows(ray_dir / "cache.sqlite") == _cache_rows(local / "cache.sqlite")
    assert len(_calls(ray_dir)) == len(_calls(local)) == 29


def test_the_rate_limit_spaces_the_calls_and_an_item_that_kills_every_actor_stops_the_run(cluster):
    from stillhouse.errors import ServiceUnavailableError
    from stillhouse.executors import Stage
    from stillhouse.executors.ray_pool import MAX_RESENDS

    stage = Stage(name="echo", local=str, remote=echo_or_die)
    items = [str(i) for i in range(12)]
    with open_executor(parse_executor("ray", actors=2, rate=20.0)) as executor:
        start = time.monotonic()
        assert list(executor.map(stage, items)) == items
        assert time.monotonic() - start >= 11 / 20.0  # 12 sends, 1/20 s apart
    with open_executor(parse_executor("ray", actors=1)) as executor:
        with pytest.raises(ServiceUnavailableError, match=f"lost its worker {MAX_RESENDS} times"):
            list(executor.map(stage, ["0", "die", "2"]))
        assert executor.live_actors() == []
