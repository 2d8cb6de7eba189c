from __future__ import annotations

import json

import pytest

from stillhouse.errors import DatasetError, InvalidInputError
from stillhouse.evaluate.inputs import labelled_models, split_model_option
from stillhouse.records.validate import require_records
from stillhouse.sources.dataset import read_dataset

from .conftest import HELDOUT, reference_text


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("smollm2-135m", ("smollm2-135m", "smollm2-135m")),
        ("student=/runs/job-1/model", ("student", "/runs/job-1/model")),
        ("/runs/job-1/model/", ("model", "/runs/job-1/model/")),
        ("openai:qwen@http://h:8000/v1?x=y", ("v1?x=y", "openai:qwen@http://h:8000/v1?x=y")),
        ("fast-router:/tmp/fr", ("fr", "fast-router:/tmp/fr")),
    ],
)
def test_split_model_option(option, expected):
    assert split_model_option(option) == expected


def test_duplicate_labels_are_refused():
    assert labelled_models(["a=x", "b=x"]) == {"a": "x", "b": "x"}
    with pytest.raises(InvalidInputError, match="labelled 'x'"):
        labelled_models(["x", "x"])


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def _line(i: int) -> str:
    q, w = HELDOUT[i % len(HELDOUT)]
    return json.dumps(
        {
            "schemaVersion": "bedrock-conversation-2024",
            "messages": [
                {"role": "user", "content": [{"text": q}]},
                {"role": "assistant", "content": [{"text": reference_text(w, q)}]},
            ],
        }
    )


def _heldout(location, limit=None):
    """The held-out policy of `stillhouse evaluate`: bad lines skipped and said, nothing readable refused."""
    records, report = read_dataset(location, "none", "skip", limit=limit)
    require_records(report, field="data")
    return records, [str(p) for p in report.invalid]


def test_heldout_reports_bad_lines_and_honours_limit(tmp_path):
    path = _write(tmp_path / "h.jsonl", [_line(0), "[1, 2]", _line(1), _line(2)])
    records, problems = _heldout(path)
    assert len(records) == 3 and problems == ["line 2: record: expected a JSON object, got array"]
    assert len(_heldout(path, limit=2)[0]) == 2
    with pytest.raises(InvalidInputError):
        _heldout(path, limit=0)


def test_heldout_reads_folders_and_refuses_nothing_readable(tmp_path):
    _write(tmp_path / "a.jsonl", [_line(0)])
    _write(tmp_path / "b.jsonl", [_line(1), "nope"])
    records, problems = _heldout(tmp_path)
    assert len(records) == 2 and problems[0].startswith("b.jsonl: line 2")
    bad = tmp_path / "bad"
    bad.mkdir()
    with pytest.raises(DatasetError):
        _heldout(_write(bad / "c.jsonl", ["nope"]))
