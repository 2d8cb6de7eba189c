"""The cut router's trainer: the student's first layers fine-tuned on the teacher's weights.

The fast router's trainer (:mod:`stillhouse.router.trainer`) fits a head on a frozen encoder; this
one trains the encoder too, because the student's early layers were never trained to summarise a
query (a head fitted on them frozen routes well below the fast router: benchmarks/README.md). The
objective is the same soft-target cross-entropy to the teacher's weight distribution, read after
the query and the router's suffix, so the router is a classifier distilled from the teacher. It is
not the one training loop's job (:mod:`stillhouse.train.loop` trains a generative student on
conversations); the steps here are a plain, seeded AdamW over a few thousand short queries. The
torch/transformers edge is this module; :mod:`stillhouse.router.cut_router` loads the result
without them.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from stillhouse.errors import InvalidInputError
from stillhouse.progress import note, progress_bar
from stillhouse.router.cut_router import (
    CONFIG_FILE,
    GGUF_FILE,
    MAX_TOKENS,
    CutRouterConfig,
    CutTraining,
    query_tokens,
)
from stillhouse.router.trainer import kl_divergence, teacher_targets
from stillhouse.tasks.video_router.prompt import MODALITIES


class CutFitReport(BaseModel):
    """What a fit did: examples, steps, the loss of each step and the final KL(teacher || router)
    on the training rows (computed in torch, before the GGUF export)."""

    model_config = ConfigDict(extra="forbid")

    examples: int
    steps: int
    seconds: float
    losses: list[float]
    final_kl: float


def fit_cut_router(
    student: Path,
    queries: Sequence[str],
    weights: np.ndarray | Sequence[Sequence[float]],
    out: Path,
    training: CutTraining | None = None,
    *,
    show_progress: bool = False,
) -> CutFitReport:
    """Cut the published ``student`` (a folder with its transformers weights and ``model.gguf``) to
    ``training.layers`` blocks, fine-tune them on the teacher's ``weights`` for ``queries`` and save
    the router to ``out`` (replaced whole, once complete)."""
    from stillhouse.models.gguf_layers import truncate_gguf
    from stillhouse.models.llamacpp_load import load_llama
    from stillhouse.models.registry import SERVING_GGUF

    training = training or CutTraining()
    targets = teacher_targets(weights)
    if len(queries) != len(targets) or not len(queries):
        raise InvalidInputError(f"{len(queries)} queries for {len(targets)} weight rows", field="weights")
    source = Path(student).expanduser()
    if not (source / "config.json").is_file() or not (source / SERVING_GGUF).is_file():
        raise InvalidInputError(
            f"{source} is not a published student (its config.json and {SERVING_GGUF})", field="student"
        )
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-") as scratch:
        work = Path(scratch)
        cut = truncate_gguf(source / SERVING_GGUF, work / "cut.gguf", training.layers, "last")
        vocab = load_llama(cut, n_ctx=MAX_TOKENS, n_threads=1)  # its tokenizer, as the router reads
        tokens = [query_tokens(vocab, query, training.suffix) for query in queries]
        head_ids = head_tokens(vocab)
        report, state = _fine_tune(source, tokens, targets, head_ids, training, show_progress)
        _export(state, cut, work / "router", training)
        config = CutRouterConfig(
            student=str(source),
            modalities=list(MODALITIES),
            head_tokens=head_ids,
            training=training,
            trained_examples=report.examples,
            final_kl=report.final_kl,
        )
        (work / "router" / CONFIG_FILE).write_text(config.model_dump_json(indent=2), encoding="utf-8")
        shutil.rmtree(out, ignore_errors=True)
        (work / "router").replace(out)
    return report


def head_tokens(vocab: Any) -> list[int]:
    """The vocabulary rows that hold the head: each modality's first token, so the router's logits
    are read where the student would write the modality's name; the rows of a tokenizer that
    starts two names alike are the next free ids."""
    chosen: list[int] = []
    for modality in MODALITIES:
        ids = vocab.tokenize(modality.encode("utf-8"), add_bos=False, special=False)
        first = int(ids[0]) if ids else 0
        while first in chosen:
            first = (first + 1) % int(vocab.n_vocab())
        chosen.append(first)
    return chosen


def _fine_tune(
    source: Path,
    tokens: list[list[int]],
    targets: np.ndarray,
    head_ids: list[int],
    training: CutTraining,
    show_progress: bool,
) -> tuple[CutFitReport, dict[str, Any]]:
    """Train the first blocks and the head; returns the report and the state to export."""
    import torch

    from stillhouse.models.hf_loading import one_load_at_a_time

    started = time.perf_counter()
    torch.manual_seed(training.seed)
    note(f"loading the first {training.layers} layers of {source}", enabled=show_progress)
    with one_load_at_a_time():
        body = _load_body(source, training.layers)
    embeddings = body.get_input_embeddings().weight
    embeddings.requires_grad_(False)
    head = torch.nn.Parameter(embeddings.detach()[head_ids].clone())  # the student's own rows to start
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in body.parameters() if p.requires_grad], "lr": training.learning_rate},
            {"params": [head], "lr": training.head_learning_rate},
        ],
        weight_decay=0.0,
    )
    y = torch.tensor(targets, dtype=torch.float32)
    losses = _steps(body, head, optimizer, tokens, y, training, show_progress)
    body.eval()
    with torch.no_grad():
        predicted = torch.cat(
            [_head_logits(body, head, tokens[i : i + 64]) for i in range(0, len(tokens), 64)]
        )
    final_kl = kl_divergence(targets, torch.softmax(predicted, dim=-1).double().numpy())
    report = CutFitReport(
        examples=len(tokens),
        steps=len(losses),
        seconds=time.perf_counter() - started,
        losses=losses,
        final_kl=final_kl,
    )
    return report, _state(body, head, head_ids)


def _load_body(source: Path, layers: int) -> Any:
    """The student's transformer body (no vocabulary head) with only its first ``layers`` blocks."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the blocks left out would be reported as unexpected weights
    try:
        body = AutoModel.from_pretrained(source, num_hidden_layers=layers, dtype=torch.float32)
    finally:
        hf_logging.set_verbosity(verbosity)
    body.config.use_cache = False
    return body.train()


def _steps(
    body: Any,
    head: Any,
    optimizer: Any,
    tokens: list[list[int]],
    y: Any,
    training: CutTraining,
    show_progress: bool,
) -> list[float]:
    """Every epoch in a seeded order, one AdamW step per batch; the loss of each step."""
    import torch

    order = torch.Generator().manual_seed(training.seed)
    batches_per_epoch = -(-len(tokens) // training.batch_size)
    losses: list[float] = []
    total = training.epochs * batches_per_epoch
    with progress_bar("fine-tune cut router", total=total, disable=not show_progress) as (bar, task):
        for _epoch in range(training.epochs):
            permutation = torch.randperm(len(tokens), generator=order).tolist()
            for start in range(0, len(tokens), training.batch_size):
                batch = permutation[start : start + training.batch_size]
                logits = _head_logits(body, head, [tokens[i] for i in batch])
                loss = -(y[batch] * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], 1.0)
                optimizer.step()
                losses.append(float(loss.detach()))
                bar.update(task, advance=1, info=f"loss {losses[-1]:.3f}")
    return losses


def _head_logits(body: Any, head: Any, batch: list[list[int]]) -> Any:
    """``[len(batch), 4]``: the head rows against each query's last hidden state (right-padded)."""
    import torch

    lengths = torch.tensor([len(t) for t in batch])
    ids = torch.zeros((len(batch), int(lengths.max())), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, query in enumerate(batch):
        ids[row, : len(query)] = torch.tensor(query)
        mask[row, : len(query)] = 1
    hidden = body(input_ids=ids, attention_mask=mask).last_hidden_state
    return hidden[torch.arange(len(batch)), lengths - 1] @ head.T


def _state(body: Any, head: Any, head_ids: list[int]) -> dict[str, Any]:
    """The cut student's weights under their transformers names, with an untied vocabulary head
    that is zero but for the head rows."""
    import torch

    state = {f"model.{name}": tensor.detach().clone() for name, tensor in body.state_dict().items()}
    embeddings = body.get_input_embeddings().weight
    output = torch.zeros_like(embeddings)
    output[head_ids] = head.detach()
    state["lm_head.weight"] = output
    return state


def _export(state: dict[str, Any], cut: Path, folder: Path, training: CutTraining) -> None:
    """``folder/router.gguf``: the cut GGUF's metadata and tokenizer with the fine-tuned weights."""
    from safetensors.torch import save_file

    from stillhouse.models.gguf_export import export_gguf

    weights = folder.with_name("weights")
    weights.mkdir()
    save_file({name: t.contiguous() for name, t in state.items()}, str(weights / "model.safetensors"))
    folder.mkdir()
    export_gguf(weights, cut, folder / GGUF_FILE, weight_type=training.weight_type, untied_head=True)
