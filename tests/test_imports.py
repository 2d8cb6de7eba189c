"""The CLI stays light: no heavy library is imported until a command needs it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

HEAVY = (
    "torch",
    "transformers",
    "peft",
    "llama_cpp",
    "fastapi",
    "sentence_transformers",
    "matplotlib",
    "boto3",
    "lancedb",
    "pymilvus",
    "pyarrow",
    "ray",
)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.integration
def test_importing_the_cli_imports_no_heavy_library():
    code = f"import stillhouse.cli, sys; loaded = [m for m in {HEAVY!r} if m in sys.modules]; assert not loaded, loaded"
    result = _python(code)
    assert result.returncode == 0, result.stderr


@pytest.mark.integration
def test_the_local_object_store_validator_and_reader_do_not_import_boto3():
    code = (
        "import sys; from stillhouse.sources.objectstore import open_store; "
        "import stillhouse.records.validate, stillhouse.sources.dataset; open_store('local'); "
        "assert 'boto3' not in sys.modules"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr


@pytest.mark.integration
def test_a_local_labelling_run_does_not_import_ray(tmp_path):
    code = (
        "import sys; from stillhouse.models.fake import FakeModel; "
        "from stillhouse.records.schema import ConversationRecord; "
        "from stillhouse.teacher.build import TeacherConfig, build_teacher; "
        "from stillhouse.teacher.label import LabelConfig, label_records; "
        "import stillhouse.executors, stillhouse.cli.label; "
        "r = ConversationRecord.model_validate({'schemaVersion': 'bedrock-conversation-2024', "
        "'messages': [{'role': 'user', 'content': [{'text': 'hi'}]}]}); "
        f"c = TeacherConfig(shots=0, embedder=None, cache={str(tmp_path / 'c.sqlite')!r}); "
        "t = build_teacher(c, [], None, model=FakeModel(['ok'])); "
        f"s = label_records([r], t, LabelConfig(progress=False), out_path={str(tmp_path / 'o.jsonl')!r}); "
        "assert s.labelled == 1, s; assert 'ray' not in sys.modules"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr


@pytest.mark.integration
def test_help_answers_quickly():
    script = Path(sys.executable).with_name("stillhouse")  # the console script of this virtualenv
    command = [str(script)] if script.exists() else [sys.executable, "-m", "stillhouse"]
    start = time.perf_counter()
    result = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60, check=False)
    seconds = time.perf_counter() - start
    print(f"`stillhouse --help` took {seconds:.2f} s")
    assert result.returncode == 0, result.stderr
    assert "validate" in result.stdout
    assert seconds < 5, f"--help took {seconds:.2f} s"  # a loose guard; the benchmark-style figure is printed
