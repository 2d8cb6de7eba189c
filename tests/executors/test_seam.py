"""The executor seam without a cluster: a remote executor in this process whose workers, items and
results all cross a pickle, as they do to a Ray actor. The driver settles what its cache holds,
sends the rest with the entries found, and writes what comes back: the local run's files and cache."""

from __future__ import annotations

import pickle
import shutil
import sqlite3
from functools import partial
from pathlib import Path

from tests.teacher.helpers import MixTask, labelled_record, mix_answer, prompt_record, router_responder

from stillhouse.executors import ExecutorInfo, Ready
from stillhouse.models.fake import FakeModel
from stillhouse.models.lazy import LazyModel
from stillhouse.teacher.build import TeacherConfig, build_teacher
from stillhouse.teacher.label import LabelConfig, label_records

QUERIES = [f"query number {i} about {'cats' if i % 3 else 'guitars'}" for i in range(24)]


class PickledRemote:
    """Runs a stage's remote calls here, everything pickled on the way (stdlib pickle: no lambdas)."""

    def __init__(self) -> None:
        self.info = ExecutorInfo(executor="pickled")
        self.sent: list[object] = []

    def map(self, stage, items):
        worker = pickle.loads(pickle.dumps(stage.worker))
        for item in items:
            prepared = stage.prepare(item)
            if isinstance(prepared, Ready):
                yield prepared.result
                continue
            self.sent.append(prepared)
            returned = stage.remote(worker, pickle.loads(pickle.dumps(prepared)))
            yield stage.commit(item, pickle.loads(pickle.dumps(returned)))

    def close(self) -> None:
        return None


def _teacher_model() -> LazyModel:
    return LazyModel("fake", partial(FakeModel, router_responder))


def _label(folder: Path, queries, *, samples: int, executor=None, out: str = "out.jsonl"):
    golden = [
        labelled_record("guitar solo", mix_answer(0.9, "music")),
        labelled_record("a cat", mix_answer(0.2)),
    ]
    records = [*golden, *(prompt_record(q) for q in queries)]
    config = TeacherConfig(model="fake", shots=2, embedder="hashing:64", cache=folder / "cache.sqlite")
    with build_teacher(config, [], MixTask(), model=_teacher_model()) as teacher:
        run = LabelConfig(samples=samples, progress=False)
        return label_records(records, teacher, run, out_path=folder / out, executor=executor)


def _rows(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT key, completion FROM requests ORDER BY key").fetchall()


def test_a_remote_labelling_run_writes_the_local_files_and_cache(tmp_path):
    local = _label(tmp_path / "local", QUERIES, samples=3)
    remote = PickledRemote()
    summary = _label(tmp_path / "remote", QUERIES, samples=3, executor=remote)
    assert summary.public() | {"seconds": 0} == local.public() | {"seconds": 0}
    for name in ("out.jsonl", "out.jsonl.failures.jsonl"):
        assert (tmp_path / "remote" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    assert _rows(tmp_path / "remote" / "cache.sqlite") == _rows(tmp_path / "local" / "cache.sqlite")
    assert len(remote.sent) == len(QUERIES)  # golden records are written by the driver, never sent
    again = PickledRemote()
    rerun = _label(tmp_path / "remote", QUERIES, samples=3, executor=again, out="again.jsonl")
    assert again.sent == [] and rerun.teacher_calls == 0 and rerun.from_cache == len(QUERIES)


def test_a_partly_cached_record_sends_what_the_cache_holds_and_pays_only_the_rest(tmp_path):
    # Two samples cached per record: a three-sample run asks only the third, here or remotely.
    for name in ("local", "remote"):
        _label(tmp_path / name, QUERIES, samples=2, out="two.jsonl")
    local = _label(tmp_path / "local", QUERIES, samples=3)
    remote = PickledRemote()
    summary = _label(tmp_path / "remote", QUERIES, samples=3, executor=remote)
    assert summary.teacher_calls == local.teacher_calls == len(QUERIES)
    assert all(len(seed) == 2 for _, seed in remote.sent)
    assert (tmp_path / "remote" / "out.jsonl").read_bytes() == (tmp_path / "local" / "out.jsonl").read_bytes()
    assert _rows(tmp_path / "remote" / "cache.sqlite") == _rows(tmp_path / "local" / "cache.sqlite")


def test_only_the_records_missing_from_the_cache_are_sent(tmp_path):
    _label(tmp_path / "local", QUERIES[:10], samples=1)
    shutil.copy(tmp_path / "local" / "cache.sqlite", tmp_path / "half.sqlite")
    remote = PickledRemote()
    (tmp_path / "remote").mkdir()
    shutil.copy(tmp_path / "half.sqlite", tmp_path / "remote" / "cache.sqlite")
    summary = _label(tmp_path / "remote", QUERIES, samples=1, executor=remote)
    assert len(remote.sent) == len(QUERIES) - 10 and summary.from_cache == 10
    _label(tmp_path / "full", QUERIES, samples=1)
    assert (tmp_path / "remote" / "out.jsonl").read_bytes() == (tmp_path / "full" / "out.jsonl").read_bytes()


def test_a_remote_batch_run_writes_the_local_lines_counts_and_cache(tmp_path):
    from tests.batch.helpers import input_lines

    from stillhouse.batch.run import run_file
    from stillhouse.teacher.cache import RequestCache

    (tmp_path / "in.jsonl").write_text("\n".join(input_lines(12, malformed_at=4)) + "\n")

    def run(name: str, executor=None):
        with RequestCache(tmp_path / f"{name}.sqlite") as cache:
            model = LazyModel("fake", partial(FakeModel, router_responder))
            return run_file(
                tmp_path / "in.jsonl", model, tmp_path / f"{name}.out", cache=cache, executor=executor
            )

    remote = PickledRemote()
    assert run("remote", remote) == run("local")
    assert (tmp_path / "remote.out").read_bytes() == (tmp_path / "local.out").read_bytes()
    assert _rows(tmp_path / "remote.sqlite") == _rows(tmp_path / "local.sqlite")
    assert len(remote.sent) == 11  # the malformed line is answered in the driver
    again = PickledRemote()
    run("remote", again)
    assert again.sent == []
