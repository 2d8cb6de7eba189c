"""Pure helpers the templates use: the loss curve as inline SVG, highlighted evidence, times.

Everything returns escaped markup (``markupsafe.Markup``) or plain data, so a template never
builds HTML from unescaped input.
"""

from __future__ import annotations

import csv
import io
import re

from markupsafe import Markup, escape

from stillhouse.tasks.video_router.prompt import MODALITIES

COLOURS = {"visual": "#2f6fb0", "audio": "#c0622b", "transcription": "#3b8c4a", "metadata": "#7a4fa3"}


def read_loss_csv(text: str) -> list[tuple[int, float]]:
    """``(step, loss)`` rows of a metrics CSV (``step_number,epoch_number,<loss column>``); a row
    being written (the training loop appends while the page polls) is skipped, not an error."""
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        loss = next((v for k, v in row.items() if k and k.endswith("_loss")), None)
        try:
            rows.append((int(row["step_number"]), float(loss)))  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):
            continue
    return rows


def loss_svg(points: list[tuple[int, float]], *, width: int = 560, height: int = 220) -> Markup:
    """A line chart of the loss per step, with its axes' ranges written out (server-side SVG)."""
    if not points:
        return Markup('<p class="muted">No training steps recorded yet.</p>')
    pad = 36
    steps, losses = [p[0] for p in points], [p[1] for p in points]
    s0, s1 = min(steps), max(steps) if max(steps) > min(steps) else min(steps) + 1
    lo, hi = min(losses), max(losses) if max(losses) > min(losses) else min(losses) + 1e-9

    def xy(step: int, loss: float) -> str:
        x = pad + (step - s0) / (s1 - s0) * (width - 2 * pad)
        y = height - pad - (loss - lo) / (hi - lo) * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    line = " ".join(xy(s, v) for s, v in points)
    dots = "".join(
        f'<circle cx="{xy(s, v).split(",")[0]}" cy="{xy(s, v).split(",")[1]}" r="3"/>' for s, v in points
    )
    label = f"Training loss over {len(points)} steps, from {losses[0]:.4f} to {losses[-1]:.4f}"
    return Markup(
        f'<svg class="loss-curve" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}">'
        f'<line class="axis" x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}"/>'
        f'<line class="axis" x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}"/>'
        f'<polyline class="loss" points="{line}"/><g class="loss-dots">{dots}</g>'
        f'<text x="{pad}" y="{pad - 8}">{hi:.4f}</text><text x="{pad}" y="{height - 8}">{lo:.4f}</text>'
        f'<text x="{width - pad}" y="{height - 8}" text-anchor="end">step {s1}</text></svg>'
    )


def highlight(text: str, query: str) -> Markup:
    """``text`` escaped, with each query word (3+ letters) it contains wrapped in ``<mark>``."""
    words = sorted({w for w in re.findall(r"\w{3,}", query.lower())}, key=len, reverse=True)
    if not words:
        return Markup(escape(text))
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    out, last = [], 0
    for m in pattern.finditer(text):
        out += [str(escape(text[last : m.start()])), f"<mark>{escape(m.group(0))}</mark>"]
        last = m.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out))


def clock(seconds: float) -> str:
    """``m:ss.s`` for a time in a video."""
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"{int(minutes)}:{rest:04.1f}"


def weight_bar(weights: dict[str, float] | None) -> list[dict[str, object]]:
    """The four weights as bar segments (modality, share in percent, colour), canonical order."""
    if not weights:
        return []
    return [
        {"modality": m, "pct": round(100 * weights.get(m, 0.0), 1), "colour": COLOURS[m]} for m in MODALITIES
    ]


def count_label(key: str) -> str:
    """A manifest counter's name in words: ``successRecordCount`` -> ``succeeded``."""
    words = {
        "totalRecordCount": "records",
        "processedRecordCount": "processed",
        "successRecordCount": "succeeded",
        "errorRecordCount": "failed",
        "inputTokenCount": "input tokens",
        "outputTokenCount": "output tokens",
    }
    return words.get(key, key)


def scores_table(scores: dict[str, dict[str, dict[str, object]]]) -> Markup:
    """One row per evaluated model, one column per metric: its mean (and how many it scored)."""
    metrics = sorted({m for per_model in scores.values() for m in per_model})
    head = "".join(f'<th scope="col">{escape(m)}</th>' for m in metrics)
    rows = []
    for label, per_model in scores.items():
        cells = []
        for metric in metrics:
            entry = per_model.get(metric) or {}
            mean = entry.get("mean")
            shown = f"{mean:.3f}" if isinstance(mean, int | float) else "—"
            cells.append(
                f'<td data-metric="{escape(metric)}">{shown} '
                f'<small class="muted">{escape(entry.get("scored", 0))} scored</small></td>'
            )
        rows.append(f'<tr><th scope="row">{escape(label)}</th>{"".join(cells)}</tr>')
    return Markup(
        f'<table class="scores" id="scores"><thead><tr><th scope="col">Model</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
