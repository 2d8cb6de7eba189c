"""Loss functions for the one training loop.

A loss is ``loss_fn(logits, targets, batch) -> scalar tensor``. To spare the CPU the vocabulary
projection of every prompt token, the loop asks the model for logits only where a loss is taken:
``logits`` is ``[N, vocab]`` for the N positions of ``batch["loss_mask"]`` (a ``[batch, seq]`` bool
mask: positions whose *next* token is an assistant token), and ``targets`` is ``[N]``, the token each
position must predict. ``batch`` is the whole collated batch, so a logit-level distillation loss can
gather teacher logits with the same mask without a second loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch


class LossFn(Protocol):
    """The loss interface the training loop calls once per step (and for validation)."""

    def __call__(
        self, logits: torch.Tensor, targets: torch.Tensor, batch: dict[str, Any]
    ) -> torch.Tensor: ...


def token_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
    """Mean next-token cross-entropy over the assistant tokens of the batch (float32 for stability)."""
    import torch.nn.functional as F

    return F.cross_entropy(logits.float(), targets)
