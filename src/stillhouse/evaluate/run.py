"""Run models over a held-out set: one pass per model, latency measured per query, then scoring.

Each model answers every held-out prompt once, in order, one at a time (so the latency of a call is
not inflated by a neighbour). Answers are scored with the task's deterministic rubric and generic
metrics, and, when a judge is given, graded by the LLM judge in a separate pass whose time is not
counted against the model.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from stillhouse.chat import ChatModel, GenerationParams, Message, last_user_text
from stillhouse.errors import DatasetError, StillhouseError
from stillhouse.evaluate.judge import Judge, builtin_rubric
from stillhouse.evaluate.metrics import exact_match, field_errors, fuzzy_match
from stillhouse.evaluate.prices import ModelPrice, PriceTable, stand_in
from stillhouse.evaluate.results import (
    EvaluationResults,
    ExampleResult,
    JudgeInfo,
    ModelResults,
    summarize,
)
from stillhouse.progress import progress_bar
from stillhouse.records.schema import ConversationRecord, ImageLoader, to_messages
from stillhouse.tasks.base import Task


class EvalCase(BaseModel):
    """A held-out prompt and its reference answer, ready to send to any model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int
    query: str
    messages: list[Message]
    reference: str


def build_cases(
    task: Task, records: Sequence[ConversationRecord], *, load_image: ImageLoader | None = None
) -> tuple[list[EvalCase], list[str]]:
    """Held-out cases from labelled records, and a reason for each record that cannot be one.

    A record without an assistant turn has no reference; a reference that breaks the task's contract
    cannot be scored against. Both are reported, never silently dropped. A record with no system
    prompt gets the task's, so every model sees the prompt it was trained on. Images stored in S3
    need ``load_image`` (e.g. :func:`stillhouse.sources.objectstore.image_loader`).
    """
    cases: list[EvalCase] = []
    skipped: list[str] = []
    for index, record in enumerate(records):
        reference = record.answer
        if reference is None:
            skipped.append(f"record {index}: no assistant turn, so no reference answer")
            continue
        parsed = task.parse(reference)
        if not parsed.ok:
            skipped.append(
                f"record {index}: reference answer breaks the task contract: {'; '.join(parsed.errors)}"
            )
            continue
        try:
            messages = to_messages(record, load_image=load_image) if load_image else to_messages(record)
        except (ValueError, StillhouseError) as exc:
            skipped.append(f"record {index}: cannot read its images: {exc}")
            continue
        if not record.system_text and task.system_prompt:
            messages = [Message(role="system", content=task.system_prompt), *messages]
        query = last_user_text(messages) or ""
        cases.append(EvalCase(index=index, query=query, messages=messages, reference=reference))
    return cases, skipped


def default_params(task: Task, *, max_tokens: int = 256, constrained: bool = True) -> GenerationParams:
    """Greedy decoding under the task's JSON schema (backends that cannot constrain ignore it)."""
    return GenerationParams(
        max_tokens=max_tokens, temperature=0.0, json_schema=task.json_schema if constrained else None
    )


def evaluate_models(
    task: Task,
    records: Sequence[ConversationRecord],
    models: Mapping[str, ChatModel],
    *,
    judge: Judge | ChatModel | None = None,
    prices: PriceTable | None = None,
    params: GenerationParams | None = None,
    load_image: ImageLoader | None = None,
    warmup: int = 0,
    show_progress: bool = True,
    interleave: bool = False,
) -> EvaluationResults:
    """Evaluate each model (keyed by its display label) on the same held-out records.

    ``judge`` is a :class:`Judge`, or a bare model that then grades with the task's built-in rubric.
    Without ``prices`` no cost is computed. ``warmup`` untimed calls per model (on the first record)
    keep lazy loading and cold caches out of the latency figures. ``interleave`` asks the models one
    record each in turn (:func:`run_interleaved`) instead of one model after another, so their
    latencies share the machine's load alike. Raises :class:`DatasetError` when no record is usable.
    """
    cases, skipped = build_cases(task, records, load_image=load_image)
    if not cases:
        raise DatasetError(f"no usable held-out record out of {len(records)}: " + "; ".join(skipped[:3]))
    if judge is not None and not isinstance(judge, Judge):
        judge = Judge(judge, builtin_rubric(task.name))
    params = params or default_params(task)
    results = EvaluationResults(
        task=task.name,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        n_records=len(records),
        skipped=skipped,
        params=params.model_dump(mode="json"),
        judge=JudgeInfo(model=judge.model.name, rubric=judge.rubric) if judge else None,
        prices_source=prices.source_path if prices else None,
        currency=prices.currency if prices else "USD",
    )
    answered = run_interleaved(task, models, cases, params, warmup, show_progress) if interleave else {}
    for label, model in models.items():
        price = prices.lookup(label, model.name) if prices else None
        examples = (
            answered[label]
            if interleave
            else run_model(task, label, model, cases, params, warmup=warmup, show_progress=show_progress)
        )
        examples, stand_in_name = price_examples(examples, price, prices)
        if judge is not None:
            examples = judge_examples(judge, label, examples, show_progress=show_progress)
        summary = summarize(
            label, model.name, examples, priced=price.match if price else None, stand_in=stand_in_name
        )
        results.models[label] = ModelResults(summary=summary, examples=examples)
    return results


def run_interleaved(
    task: Task,
    models: Mapping[str, ChatModel],
    cases: Sequence[EvalCase],
    params: GenerationParams,
    warmup: int = 0,
    show_progress: bool = True,
) -> dict[str, list[ExampleResult]]:
    """Every model on every case, one case each in turn, the order rotated per case (so none always
    answers on a cache another just warmed); ``warmup`` discarded rounds on the first case first."""
    labels = list(models)
    for _ in range(warmup):
        for label in labels:
            run_model(task, label, models[label], cases[:1], params, show_progress=False)
    examples: dict[str, list[ExampleResult]] = {label: [] for label in labels}
    with progress_bar("evaluate interleaved", total=len(cases), disable=not show_progress) as (bar, bar_task):
        for i, case in enumerate(cases):
            for label in labels[i % len(labels) :] + labels[: i % len(labels)]:
                examples[label] += run_model(task, label, models[label], [case], params, show_progress=False)
            bar.update(bar_task, advance=1)
    return examples


def run_model(
    task: Task,
    label: str,
    model: ChatModel,
    cases: Sequence[EvalCase],
    params: GenerationParams,
    *,
    warmup: int = 0,
    show_progress: bool = True,
) -> list[ExampleResult]:
    """Ask ``model`` every case once, timing each call (wall and CPU), and score its answers."""
    for _ in range(warmup):
        try:
            model.generate(list(cases[0].messages), params)
        except StillhouseError:
            break  # the timed run will record the failure where it counts
    examples: list[ExampleResult] = []
    with progress_bar(f"evaluate {label}", total=len(cases), disable=not show_progress) as (bar, bar_task):
        for case in cases:
            example = _answer_one(task, model, case, params)
            examples.append(example)
            valid = sum(e.valid for e in examples)
            bar.update(bar_task, advance=1, info=f"valid {valid}/{len(examples)}")
    return examples


def price_examples(
    examples: list[ExampleResult], price: ModelPrice | None, table: PriceTable | None
) -> tuple[list[ExampleResult], str | None]:
    """Each example's cost at ``price`` (tokens, wall time, measured core-seconds) and, beside it,
    the same tokens at the on-demand price of the Bedrock model ``price`` stands in for; returns the
    examples and that model's name (``None`` when there is none)."""
    if price is None or table is None:
        return examples, None
    stand = stand_in(table, price)
    priced = []
    for e in examples:
        update = {
            "cost": price.query_cost(e.input_tokens, e.output_tokens, e.latency_ms / 1000, e.core_seconds)
        }
        if stand is not None:
            update["stand_in_cost"] = stand.query_cost(e.input_tokens, e.output_tokens, 0.0)
        priced.append(e.model_copy(update=update))
    return priced, price.stands_in_for if stand is not None else None


def _answer_one(task: Task, model: ChatModel, case: EvalCase, params: GenerationParams) -> ExampleResult:
    start, cpu = time.perf_counter(), time.process_time()
    try:
        completion = model.generate(list(case.messages), params)
    except StillhouseError as exc:  # a failed call is a data point (invalid, rubric 1), not a crash
        latency = (time.perf_counter() - start) * 1000.0
        return score_example(task, case, "", latency_ms=latency, error=f"{type(exc).__name__}: {exc}")
    wall_ms = (time.perf_counter() - start) * 1000.0
    # The CPU time of this process during the call: what an in-process model (llama.cpp,
    # transformers) used, on every core; near zero for a remote backend, which is priced by tokens.
    core_seconds = time.process_time() - cpu
    # A backend's own timing of the model call is preferred: an answer replayed from the teacher
    # cache keeps the latency measured when it was paid for instead of reporting ~0 ms.
    latency = completion.latency_ms if completion.latency_ms > 0 else wall_ms
    return score_example(
        task,
        case,
        completion.text,
        latency_ms=latency,
        input_tokens=completion.input_tokens,
        output_tokens=completion.output_tokens,
    ).model_copy(update={"core_seconds": core_seconds})


def score_example(
    task: Task,
    case: EvalCase,
    prediction: str,
    *,
    latency_ms: float,
    input_tokens: int = 0,
    output_tokens: int = 0,
    error: str | None = None,
) -> ExampleResult:
    """Every deterministic metric of one prediction against its case's reference (pure)."""
    parsed = task.parse(prediction)
    reference = task.parse(case.reference)
    lenient = task.lenient_value(prediction) if not parsed.ok else parsed.value
    canonical_pred = task.render(parsed.value) if parsed.ok and parsed.value is not None else prediction
    canonical_ref = task.render(reference.value) if reference.value is not None else case.reference
    return ExampleResult(
        index=case.index,
        query=case.query,
        reference=case.reference,
        prediction=prediction,
        error=error,
        latency_ms=latency_ms,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        valid=parsed.ok,
        parse_errors=list(parsed.errors) if prediction.strip() else ["empty answer"],
        scores={k: _as_float(v) for k, v in task.score(prediction, case.reference).items()},
        field_errors=field_errors(lenient, reference.value),
        exact_match=exact_match(canonical_pred, canonical_ref),
        fuzzy_match=fuzzy_match(prediction, case.reference),
    )


def _as_float(value: object) -> float | None:
    if value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]  # bools and ints from a task's score count too
    except (TypeError, ValueError):
        return None


def judge_examples(
    judge: Judge, label: str, examples: list[ExampleResult], *, show_progress: bool = True
) -> list[ExampleResult]:
    """Grade every example with the LLM judge (a separate pass: judge time is not model latency)."""
    graded: list[ExampleResult] = []
    with progress_bar(f"judge {label}", total=len(examples), disable=not show_progress) as (bar, bar_task):
        for example in examples:
            verdict = judge.grade(example.query, example.prediction, example.reference)
            graded.append(example.model_copy(update={"judge": verdict}))
            bar.update(
                bar_task, advance=1, info=f"score {verdict.score if verdict.score is not None else '?'}"
            )
    return graded


def rescore(task: Task, results: EvaluationResults, references: Mapping[int, str]) -> EvaluationResults:
    """The same predictions scored against other references (e.g. the teacher's own answers).

    No model is called: latency, tokens and cost are kept; only the reference-dependent metrics
    change. ``references`` maps a held-out record index to its new reference answer; examples
    without one are left out (and counted in ``skipped``).
    """
    out = results.model_copy(update={"models": {}, "skipped": list(results.skipped)})
    for label, model_results in results.models.items():
        examples: list[ExampleResult] = []
        for example in model_results.examples:
            reference = references.get(example.index)
            if reference is None:
                continue
            case = EvalCase(index=example.index, query=example.query, messages=[], reference=reference)
            rescored = score_example(
                task,
                case,
                example.prediction,
                latency_ms=example.latency_ms,
                input_tokens=example.input_tokens,
                output_tokens=example.output_tokens,
                error=example.error,
            )
            kept = {k: getattr(example, k) for k in ("cost", "core_seconds", "stand_in_cost", "judge")}
            examples.append(rescored.model_copy(update=kept))
        summary = summarize(
            label,
            model_results.summary.model_name,
            examples,
            priced=model_results.summary.price_entry,
            stand_in=model_results.summary.stand_in,
        )
        out.models[label] = ModelResults(summary=summary, examples=examples)
    indices = {e.index for m in results.models.values() for e in m.examples}
    missing = sorted(indices - set(references))
    if missing:
        out.skipped.append(f"records {missing} have no alternative reference and were not rescored")
    return out
