"""The weight distribution of a labelled router set, as a PNG (the seed's "Figure 2").

Top row: one histogram per modality (0.05-wide bins). Bottom row: a box plot of the four modalities
side by side, and how many answers each intent (dominant modality above 0.5, else mixed) got.
matplotlib is imported inside the function (Agg canvas, no pyplot), so importing this module is cheap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from stillhouse.errors import InvalidInputError
from stillhouse.records.schema import ConversationRecord
from stillhouse.tasks.video_router.parse import parse_answer
from stillhouse.tasks.video_router.prompt import MODALITIES, Modality
from stillhouse.tasks.video_router.weights import INTENTS, intent_of, weights_of

_COLOURS = {"visual": "#4C72B0", "audio": "#DD8452", "transcription": "#55A868", "metadata": "#C44E52"}


def weights_from_records(records: Iterable[ConversationRecord]) -> tuple[list[dict[Modality, float]], int]:
    """The normalised weights of every labelled record, and how many answers could not be read."""
    found: list[dict[Modality, float]] = []
    unreadable = 0
    for record in records:
        if record.answer is None:
            continue
        parsed = parse_answer(record.answer, normalize=True)
        if parsed.value is None:
            unreadable += 1
        else:
            found.append(weights_of(parsed.value))
    return found, unreadable


def plot_weight_distribution(
    weights: Sequence[Mapping[Modality, float]], out: str | Path, *, title: str = "Router weight distribution"
) -> Path:
    """Draw the figure for ``weights`` (one mapping per answer) and write it to ``out`` as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not weights:
        raise InvalidInputError("no labelled answers to plot", field="weights")
    fig = Figure(figsize=(12, 6.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 4)
    bins = [(i - 0.5) / 20 for i in range(22)]  # bars centred on multiples of 0.05
    columns = {m: [float(w[m]) for w in weights] for m in MODALITIES}
    for i, m in enumerate(MODALITIES):
        ax = fig.add_subplot(grid[0, i])
        ax.hist(columns[m], bins=bins, color=_COLOURS[m], edgecolor="white")
        mean = sum(columns[m]) / len(columns[m])
        ax.set_title(f"{m} (mean {mean:.2f})")
        ax.set_xlabel("weight")
        ax.set_xlim(-0.03, 1.03)
    fig.axes[0].set_ylabel("answers")
    box = fig.add_subplot(grid[1, :2])
    parts = box.boxplot([columns[m] for m in MODALITIES], tick_labels=list(MODALITIES), patch_artist=True)
    for patch, m in zip(parts["boxes"], MODALITIES, strict=True):
        patch.set_facecolor(_COLOURS[m])
    box.set_ylabel("weight")
    box.set_ylim(0, 1)
    counts = Counter(intent_of(w) for w in weights)
    bars = fig.add_subplot(grid[1, 2:])
    bars.bar(list(INTENTS), [counts.get(k, 0) for k in INTENTS], color=[*_COLOURS.values(), "#8172B3"])
    bars.set_title("intent (dominant weight > 0.5, else mixed)")
    bars.set_ylabel("answers")
    fig.suptitle(f"{title} — {len(weights)} answers")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
