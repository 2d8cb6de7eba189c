"""Evaluated prompt prefixes kept aside, so a prompt that shares a long prefix with an earlier one
(not only with the one before it) skips evaluating that prefix again.

llama.cpp's context holds one sequence, and the decoder reuses the part of it the next prompt starts
with. Prompts that take turns (a teacher whose shots depend on the query's predicted class) share
most of their prefix with an earlier prompt and only the system prompt with the previous one. This
keeps the KV cache of recent prompts as sequence snapshots (a few MB each: the keys and values of
their tokens, no logits) and restores the one sharing the longest prefix with the next prompt.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stillhouse.errors import ModelError

SEQUENCE = 0  # llama-cpp-python runs every prompt as sequence 0
MIN_GAIN = 16  # tokens a snapshot must add over the live context to be worth restoring


@dataclass(frozen=True)
class Snapshot:
    """The tokens of an evaluated prompt and its sequence state."""

    tokens: np.ndarray
    state: bytes


class PrefixStates:
    """Recent prompts' KV snapshots on one ``llama_cpp.Llama`` (the caller serialises calls).

    A new snapshot replaces the one its prompt was restored from when they share at least half of
    it, so prompts that differ only after a common prefix keep one snapshot of it between them,
    while prompts of another kind keep theirs; at most ``capacity`` are kept, the oldest dropped.
    """

    def __init__(self, llm: Any, capacity: int = 8) -> None:
        self._llm = llm
        self.capacity = capacity
        self.snapshots: list[Snapshot] = []  # least recently used first
        self._source: int | None = None
        self.restored = 0  # how many prompts a snapshot served, for tests and benchmarks

    def restore(self, prompt: Sequence[int]) -> list[int]:
        """Bring the context to the longest prefix of ``prompt`` at hand; the tokens still to run.

        At least one token is always left to run: its logits are what the first choice is made from.
        """
        llm, head = self._llm, list(prompt[:-1])
        keep = llm.longest_token_prefix(llm.input_ids[: llm.n_tokens], head)
        shared = [llm.longest_token_prefix(s.tokens, head) for s in self.snapshots]
        best = max(range(len(shared)), key=lambda i: (shared[i], i), default=None)
        self._source = None
        if best is not None and 2 * shared[best] >= len(self.snapshots[best].tokens):
            self._source = best
        if best is not None and shared[best] > keep + MIN_GAIN:
            self._load(self.snapshots[best])
            keep = shared[best]
            self.restored += 1
        llm.n_tokens = keep  # eval() drops the cache beyond n_tokens before it runs
        return list(prompt[keep:])

    def save(self) -> None:
        """Snapshot the context as it is now, in place of the snapshot it was restored from."""
        if self.capacity <= 0:
            return
        llm = self._llm
        snapshot = Snapshot(llm.input_ids[: llm.n_tokens].copy(), self._read())
        if self._source is not None:
            del self.snapshots[self._source]
            self._source = None
        self.snapshots.append(snapshot)
        del self.snapshots[: -self.capacity]

    def _read(self) -> bytes:
        import llama_cpp

        ctx = self._llm.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, SEQUENCE)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, SEQUENCE)
        # string_at copies in C; slicing a c_uint8 array builds a Python int per byte of a snapshot
        # megabytes long, which cost more than the prefix it saves (README, anchored shots)
        return ctypes.string_at(buffer, written)

    def _load(self, snapshot: Snapshot) -> None:
        import llama_cpp

        llm = self._llm
        buffer = (ctypes.c_uint8 * len(snapshot.state)).from_buffer_copy(snapshot.state)
        if not llama_cpp.llama_state_seq_set_data(llm.ctx, buffer, len(snapshot.state), SEQUENCE):
            raise ModelError("llama.cpp could not restore a saved prompt state")
        llm.input_ids[: len(snapshot.tokens)] = snapshot.tokens
        llm.n_tokens = len(snapshot.tokens)
