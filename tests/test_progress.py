"""The one progress display: a rich bar on a terminal, periodic plain lines without one."""

from __future__ import annotations

import io
import time

import pytest

from stillhouse import progress
from stillhouse.progress import LineProgress, progress_bar, track


def test_without_a_terminal_lines_come_at_intervals_and_at_the_end(capsys) -> None:
    with progress_bar("labelling", total=4, interval=0.05) as (bar, task):
        bar.update(task, advance=1, info="failed 0")
        time.sleep(0.18)  # a slow teacher answer: the lines keep coming meanwhile
        bar.update(task, advance=3, info="failed 1")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) >= 3
    assert lines[0].startswith("labelling: 1/4 (25%)") and "eta" in lines[0] and "failed 0" in lines[0]
    assert lines[-1].startswith("labelling: 4/4 (100%)") and "failed 1" in lines[-1]


def test_disabled_prints_nothing(capsys) -> None:
    with progress_bar("x", total=2, disable=True, interval=0.01) as (bar, task):
        bar.update(task, advance=2)
        time.sleep(0.05)
    assert capsys.readouterr().err == ""


def test_the_interval_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv(progress.INTERVAL_ENV, "2.5")
    assert progress.interval_seconds() == 2.5
    for bad in ("0", "-1", "soon"):
        monkeypatch.setenv(progress.INTERVAL_ENV, bad)
        assert progress.interval_seconds() == progress.DEFAULT_INTERVAL


def test_a_resumed_count_is_not_counted_in_the_rate() -> None:
    lines = LineProgress("training", total=None, interval=60, stream=io.StringIO())
    lines.reset(total=100, completed=90)
    lines.started -= 10  # 10 s since the reset
    lines.update(completed=95)
    line = lines.line()
    assert line.startswith("training: 95/100 (95%)")
    assert "0.50/s" in line and "eta 10s" in line and "elapsed 10s" in line


def test_an_unknown_total_shows_the_count_only() -> None:
    lines = LineProgress("validating", total=None, interval=60)
    lines.update(completed=1200)
    assert lines.line().startswith("validating: 1200 · ") and "eta" not in lines.line()


@pytest.mark.parametrize(("seconds", "text"), [(5, "5s"), (65, "1m05s"), (3725, "1h02m")])
def test_durations(seconds: float, text: str) -> None:
    assert progress._duration(seconds) == text


def test_note_goes_to_stderr(capsys) -> None:
    progress.note("loading the student")
    progress.note("hidden", enabled=False)
    out = capsys.readouterr()
    assert out.err == "loading the student\n" and out.out == ""


def test_track_passes_every_item_through_in_order():
    assert list(track(iter(["a", "b", "c"]), "items", 3, disable=True)) == ["a", "b", "c"]
    assert list(track([], "nothing", 0, disable=True)) == []


def test_track_is_lazy_like_the_generator_it_wraps():
    pulled: list[int] = []

    def numbers():
        for i in range(3):
            pulled.append(i)
            yield i

    tracked = track(numbers(), "numbers", None, disable=True)
    assert next(tracked) == 0 and pulled == [0]


def test_stage_timer_logs_each_stage_and_keeps_its_seconds() -> None:
    from stillhouse.progress import StageTimer

    lines: list[str] = []
    timer = StageTimer(lines.append)
    assert timer.run("data", lambda: 42) == 42
    assert list(timer.seconds) == ["data"] and timer.seconds["data"] >= 0
    assert lines[0] == "== data" and lines[1].startswith("   data: ") and lines[1].endswith(" s")


def test_stage_timer_records_no_seconds_for_a_stage_that_raised() -> None:
    from stillhouse.progress import StageTimer

    def fail() -> None:
        raise ValueError("boom")

    timer = StageTimer(lambda _: None)
    with pytest.raises(ValueError, match="boom"):
        timer.run("train", fail)
    assert timer.seconds == {}
