"""The files a run leaves behind, in Bedrock's layout: metrics CSVs and a loss-curve figure.

```
OUT/training_artifacts/step_wise_training_metrics.csv   step_number,epoch_number,training_loss,perplexity
OUT/training_artifacts/loss_curve.png
OUT/validation_artifacts/post_fine_tuning_validation/validation_metrics.csv
                                                      step_number,epoch_number,validation_loss,perplexity
```
The folders, file names and columns are Bedrock's (a job copies both folders under its
``outputDataConfig.s3Uri``); perplexity is ``exp(loss)``. Steps and epochs are numbered from 1. A run rewrites the training CSV from its history when it
starts (so a resumed run never keeps rows from steps it redoes), then appends one row per step.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path

from stillhouse.train.checkpoint import MetricRow

TRAINING_CSV = Path("training_artifacts") / "step_wise_training_metrics.csv"
VALIDATION_CSV = Path("validation_artifacts") / "post_fine_tuning_validation" / "validation_metrics.csv"
LOSS_CURVE = Path("training_artifacts") / "loss_curve.png"


def write_metrics(path: Path, rows: Sequence[MetricRow], loss_column: str) -> Path:
    """Write ``step_number,epoch_number,<loss_column>,perplexity`` rows (atomically: temp file, then
    rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step_number", "epoch_number", loss_column, "perplexity"])
        for row in rows:
            writer.writerow(_cells(row))
    os.replace(tmp, path)
    return path


def append_metric(path: Path, row: MetricRow) -> None:
    """Append one row to a metrics CSV that :func:`write_metrics` created."""
    with open(path, "a", newline="") as handle:
        csv.writer(handle).writerow(_cells(row))


def _cells(row: MetricRow) -> list[object]:
    # exp of a diverged loss overflows: the CSV says inf rather than the run failing on its metrics
    perplexity = math.exp(row.loss) if row.loss < 700 else math.inf
    return [row.step, row.epoch, f"{row.loss:.6f}", f"{perplexity:.6f}"]


def plot_loss_curve(path: Path, training: Sequence[MetricRow], validation: Sequence[MetricRow]) -> Path:
    """Training loss per step, validation loss as markers, saved as a PNG.

    Uses a bare :class:`~matplotlib.figure.Figure` (Agg canvas) rather than pyplot, so no global
    backend state changes and it is safe from worker threads.
    """
    from matplotlib.figure import Figure

    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.subplots()
    marker = "." if len(training) < 30 else None  # a short run's few points stay visible
    ax.plot(
        [r.step for r in training], [r.loss for r in training], label="training loss", lw=1.2, marker=marker
    )
    if validation:
        ax.plot(
            [r.step for r in validation],
            [r.loss for r in validation],
            "o--",
            label="validation loss",
            color="tab:orange",
        )
    ax.set_xlabel("step")
    ax.set_ylabel("loss (assistant tokens)")
    ax.set_title("Student fine-tuning")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return path
