"""What each fast-router lever buys on the hand-labelled dev set, measured.

    python benchmarks/bench_fast_router.py [--train runs/demo/data/train.jsonl] [--n 100] \
        [--weak 500 2000 5000] [--pools 3]

``--train`` is a labelled file as ``make demo`` writes it (golden pairs + the teacher's answers to
synthesized queries, before verification); without it the benchmark says so and skips. The design
intents of its synthesized queries are recovered by re-running the synthesizer with ``--seed`` (the
demo's seed), which reproduces the demo's queries exactly.

Conditions, each a MiniLM + softmax head fitted as the demo fits it and scored on the first ``--n``
dev queries against the human labels (rubric mean, MAE, dominant accuracy):

- ``golden``             the 125 hand-labelled golden pairs only
- ``teacher``            golden + every teacher answer (the demo before verification)
- ``verified``           golden + the teacher answers that agree with their query's design intent
- ``verified+weak N``    plus N more synthesized single-intent queries, each weakly labelled with the
                         teacher's mean weights for its intent; repeated on ``--pools`` different draws
                         of the N queries so the spread is visible

Seconds per condition on 2 cores: a few (embedding ~2 ms per query); nothing is asserted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

DEMO_TRAIN = Path("runs/demo/data/train.jsonl")


def _dev(n: int) -> tuple[list[str], list[dict[str, float]]]:
    from stillhouse.tasks.video_router.golden import load_dev
    from stillhouse.tasks.video_router.parse import parse_answer
    from stillhouse.tasks.video_router.weights import weights_of

    dev = load_dev()[:n]
    refs = [weights_of(parse_answer(r.messages[-1].text, normalize=True).value or {}) for r in dev]
    return [r.messages[0].text for r in dev], refs


def _score(pred: np.ndarray, refs: list[dict[str, float]]) -> tuple[float, float, float]:
    """(rubric mean, MAE, dominant accuracy) of predicted rows against reference weights."""
    from stillhouse.tasks.video_router.prompt import MODALITIES
    from stillhouse.tasks.video_router.rubric import dominant_matches, rubric_score

    rows = [dict(zip(MODALITIES, map(float, p), strict=True)) for p in pred]
    scores = [rubric_score(p, r) for p, r in zip(rows, refs, strict=True)]
    mae = [np.mean([abs(p[m] - r[m]) for m in MODALITIES]) for p, r in zip(rows, refs, strict=True)]
    dominant = [dominant_matches(p, r) for p, r in zip(rows, refs, strict=True)]
    return float(np.mean(scores)), float(np.mean(mae)), float(np.mean(dominant))


def _weak_pool(seed: int, exclude: set[str], size: int):
    from stillhouse.tasks.video_router.synth import SynthConfig, normalise_text, synthesize

    drawn = synthesize(SynthConfig(n=size + len(exclude) + 100, seed=seed))
    return [q for q in drawn if normalise_text(q.text) not in exclude][:size]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=Path, default=DEMO_TRAIN, help="labelled JSONL (before verification)")
    parser.add_argument("--n", type=int, default=100, help="dev queries to score on")
    parser.add_argument("--seed", type=int, default=0, help="the synthesizer seed the train file came from")
    parser.add_argument("--weak", type=int, nargs="*", default=[500, 2000, 5000], help="weak query counts")
    parser.add_argument("--pools", type=int, default=3, help="different weak-query draws per count")
    args = parser.parse_args()
    if not args.train.is_file():
        print(f"skipped: {args.train} does not exist (run `make demo` first or pass --train)")
        return

    from stillhouse.router.fast_router import FastRouter
    from stillhouse.router.intents import intent_index, intent_prior, verify_labels, weak_targets
    from stillhouse.router.trainer import fit, teacher_targets, training_pairs
    from stillhouse.sources.dataset import read_dataset
    from stillhouse.tasks.video_router.golden import load_dev, load_golden
    from stillhouse.tasks.video_router.synth import SynthConfig, normalise_text, synthesize

    records, _ = read_dataset(args.train, "none", "skip")
    # As the demo does: synthesized queries that coincide with a golden or dev query are not used, so a
    # golden pair is never judged by a template's intent.
    reserved = {normalise_text(r.messages[0].text) for r in load_golden() + load_dev()}
    drawn = synthesize(SynthConfig(n=len(records) + 400, seed=args.seed))
    intents = intent_index(q for q in drawn if normalise_text(q.text) not in reserved)
    verified = verify_labels(records, intents)
    print(
        f"{args.train}: {len(records)} pairs, {len(verified.rejected)} of {verified.checked} checked rejected"
    )
    router = FastRouter.from_spec("minilm")
    dev_queries, refs = _dev(args.n)
    dev_x = router.embed(dev_queries)

    def fit_and_score(queries: list[str], rows: np.ndarray) -> tuple[float, float, float]:
        fit(router, queries, rows)
        return _score(router.predict_embeddings(dev_x), refs)

    conditions = {"golden": load_golden(), "teacher": records, "verified": verified.kept}
    print(f"\n{'condition':<24}{'examples':>9}{'rubric':>8}{'MAE':>8}{'dominant':>10}")
    for name, subset in conditions.items():
        queries, weights, _ = training_pairs(subset)
        rubric, mae, dom = fit_and_score(queries, weights)
        print(f"{name:<24}{len(queries):>9}{rubric:>8.2f}{mae:>8.3f}{dom:>10.0%}")

    queries, weights, _ = training_pairs(verified.kept)
    targets = teacher_targets(weights)
    prior = intent_prior(targets)
    exclude = reserved | {normalise_text(t) for t in queries}
    for count in args.weak:
        for pool in range(args.pools):
            weak_q, weak_rows = weak_targets(_weak_pool(1000 + pool, exclude, count), prior)
            rubric, mae, dom = fit_and_score([*queries, *weak_q], np.vstack([targets, weak_rows]))
            label = f"verified+weak {count} #{pool + 1}"
            print(f"{label:<24}{len(queries) + len(weak_q):>9}{rubric:>8.2f}{mae:>8.3f}{dom:>10.0%}")


if __name__ == "__main__":
    main()
