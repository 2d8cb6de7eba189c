"""Logit-level distillation losses on the teacher's stored top-k log-probabilities (pure torch).

Each loss is a :class:`~stillhouse.train.losses.LossFn` for the one training loop. Besides the
loop's ``logits [N, vocab]`` and ``targets [N]`` (one row per assistant token), the batch carries the
teacher at the same N positions (:func:`stillhouse.train.teacher_tokens.collate_teacher`):
``teacher_ids [N, k]`` (teacher token ids, best first), ``teacher_logprobs [N, k]`` (``-inf`` where a
row has fewer than k) and ``teacher_mask [N]`` (positions the teacher spoke at). Prompt and pad tokens
never reach a loss (the loop keeps logits only at assistant positions); assistant positions the
teacher has no distribution for (its end-of-turn marker, an answer rewritten after labelling) are
masked out of the distillation term and keep the SFT term.

The loss is ``(1 - kdWeight) * CE + kdWeight * T^2 * D`` with D averaged over the teacher's
positions; T^2 keeps the gradient scale independent of the temperature (Hinton et al.).

- ``kd`` (same tokenizer): the student's distribution restricted to the teacher's top-k ids and
  both renormalised over those k ids, compared by the generalised Jensen-Shannon divergence of
  TRL's GKD: ``kdBeta`` 0 is forward KL(teacher || student), 1 reverse KL(student || teacher), in
  between JSD_beta with the mixture ``beta * teacher + (1 - beta) * student``.
- ``uld`` (any tokenizers): universal logit distillation (Boizard et al. 2024), the L1 distance
  between the two distributions' probabilities sorted in decreasing order, over the top k. We chose
  it over aligning the two vocabularies because it needs nothing but the probabilities the teacher
  stored: no mapping between vocabularies (a token of one rarely is a token of the other), and it
  still works when only the top 20 of the teacher's vocabulary were kept. Positions are paired where
  both tokenizations start a token at the same character of the answer (see
  :func:`stillhouse.train.teacher_tokens.align_offsets`), which is where both predict the next piece
  of the same text; ULD's original pairing by index drifts as soon as the tokenizations differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from stillhouse.train.hparams import Hyperparameters
    from stillhouse.train.losses import LossFn


def renormalise_topk(logprobs: torch.Tensor) -> torch.Tensor:
    """Log-probabilities over the last axis renormalised to sum to 1 (``-inf`` entries stay out)."""
    import torch

    return logprobs - torch.logsumexp(logprobs, dim=-1, keepdim=True)


def _kl(p_log: torch.Tensor, q_log: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per row; entries where p is 0 contribute nothing (no ``0 * -inf`` NaNs)."""
    import torch

    p = p_log.exp()
    terms = torch.where(p > 0, p * (p_log - q_log), torch.zeros_like(p))
    return terms.sum(dim=-1)


def generalised_jsd(student_log: torch.Tensor, teacher_log: torch.Tensor, beta: float) -> torch.Tensor:
    """TRL's generalised JSD per row, both inputs normalised log-probabilities over the same k."""
    import math

    import torch

    if beta == 0.0:
        return _kl(teacher_log, student_log)
    if beta == 1.0:
        return _kl(student_log, teacher_log)
    mixture = torch.logsumexp(
        torch.stack([student_log + math.log(1 - beta), teacher_log + math.log(beta)]), dim=0
    )
    return beta * _kl(teacher_log, mixture) + (1 - beta) * _kl(student_log, mixture)


def uld_distance(student_probs: torch.Tensor, teacher_probs: torch.Tensor) -> torch.Tensor:
    """ULD per row: L1 between the probabilities sorted in decreasing order (shorter one 0-padded)."""
    import torch.nn.functional as F

    k = max(student_probs.shape[-1], teacher_probs.shape[-1])
    s = F.pad(student_probs, (0, k - student_probs.shape[-1])).sort(dim=-1, descending=True).values
    t = F.pad(teacher_probs, (0, k - teacher_probs.shape[-1])).sort(dim=-1, descending=True).values
    return (s - t).abs().sum(dim=-1)


@dataclass(frozen=True)
class KDLoss:
    """A distillation loss with its settings; called by the loop like any :class:`LossFn`."""

    method: str  # "kd" or "uld"
    weight: float = 0.5
    temperature: float = 1.0
    top_k: int = 20
    beta: float = 0.0

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        import torch.nn.functional as F

        logits = logits.float()
        sft = F.cross_entropy(logits, targets)
        mask = batch.get("teacher_mask")
        if self.weight == 0.0 or mask is None or not bool(mask.any()):
            return sft  # no teacher position in this batch: it trains as SFT
        divergence = self.divergence(
            logits[mask], batch["teacher_ids"][mask], batch["teacher_logprobs"][mask]
        )
        if divergence.numel() == 0:
            return sft
        return (1 - self.weight) * sft + self.weight * self.temperature**2 * divergence.mean()

    def divergence(
        self, logits: torch.Tensor, teacher_ids: torch.Tensor, teacher_logprobs: torch.Tensor
    ) -> torch.Tensor:
        """The distillation term per position (rows the teacher spoke at only)."""
        import torch

        k = min(self.top_k, teacher_ids.shape[-1])
        ids, stored = teacher_ids[:, :k], teacher_logprobs[:, :k].float()
        valid = torch.isfinite(stored)
        if self.method == "kd":
            # A teacher that names tokens by text only (an OpenAI-compatible server) stores id -1:
            # those entries cannot be matched to the student's vocabulary and stay out of KD.
            valid = valid & (ids >= 0)
        rows = valid.any(dim=-1)  # positions with nothing comparable left drop out of the mean
        logits, ids, stored, valid = logits[rows], ids[rows], stored[rows], valid[rows]
        teacher = renormalise_topk(torch.where(valid, stored / self.temperature, -torch.inf))
        student_all = torch.log_softmax(logits / self.temperature, dim=-1)
        if self.method == "uld":
            student = renormalise_topk(student_all.topk(k, dim=-1).values)
            return uld_distance(student.exp(), teacher.exp())
        gathered = student_all.gather(-1, ids.clamp(0, logits.shape[-1] - 1))
        student = renormalise_topk(torch.where(valid, gathered, -torch.inf))
        return generalised_jsd(student, teacher, self.beta)


def loss_for(hp: Hyperparameters) -> LossFn:
    """The loss a run's hyperparameters name: plain cross-entropy for ``sft``, else a :class:`KDLoss`."""
    from stillhouse.train.losses import token_cross_entropy

    if hp.distillationMethod == "sft":
        return token_cross_entropy
    return KDLoss(
        method=hp.distillationMethod,
        weight=hp.kdWeight,
        temperature=hp.kdTemperature,
        top_k=hp.kdTopK,
        beta=hp.kdBeta,
    )
