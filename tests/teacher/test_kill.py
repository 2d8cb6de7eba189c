"""A labelling run killed with SIGKILL and started again: nothing lost, nothing duplicated, nothing paid twice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("slow_labeller.py")
N = 20


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.integration
def test_sigkill_then_restart_loses_nothing_and_pays_nothing_twice(tmp_path: Path) -> None:
    out, cache, calls = tmp_path / "out.jsonl", tmp_path / "cache.sqlite", tmp_path / "calls.log"
    args = [sys.executable, str(SCRIPT), str(out), str(cache), str(calls)]
    victim = subprocess.Popen([*args, "0.25", str(N)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(_lines(out)) < 5 and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert victim.returncode == -signal.SIGKILL, victim.stderr.read().decode() if victim.stderr else ""
    written_before = len(_lines(out))
    assert 5 <= written_before < N

    rerun = subprocess.run([*args, "0.0", str(N)], capture_output=True, text=True, timeout=120, check=True)
    summary = json.loads(rerun.stdout)
    assert summary["resumed"] == written_before and summary["labelled"] == N

    rows = [json.loads(line) for line in _lines(out)]
    prompts = [row["messages"][0]["content"][0]["text"] for row in rows]
    assert sorted(prompts) == sorted(f"prompt {i}" for i in range(N))  # none lost, none duplicated
    assert all(row["messages"][-1]["role"] == "assistant" for row in rows)
    paid = Counter(_lines(calls))
    assert set(paid) == set(prompts) and max(paid.values()) == 1  # no answer paid twice
