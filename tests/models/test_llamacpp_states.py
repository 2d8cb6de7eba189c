"""Prompt-prefix snapshots: which one is restored and which ones are kept (llama.cpp replaced by a
fake context whose sequence state is its token list)."""

from __future__ import annotations

import numpy as np

from stillhouse.models.llamacpp_states import MIN_GAIN, PrefixStates


class FakeLlama:
    """What PrefixStates uses of ``llama_cpp.Llama``: the token buffer and the prefix helper."""

    def __init__(self) -> None:
        self.input_ids = np.zeros(4096, dtype=np.intc)
        self.n_tokens = 0

    @staticmethod
    def longest_token_prefix(a, b) -> int:
        n = 0
        for x, y in zip(a, b, strict=False):
            if x != y:
                break
            n += 1
        return n

    def eval(self, tokens: list[int]) -> None:
        self.input_ids[self.n_tokens : self.n_tokens + len(tokens)] = tokens
        self.n_tokens += len(tokens)


class FakeStates(PrefixStates):
    """Sequence state = the tokens; a restore checks it gets back what was saved."""

    def _read(self) -> bytes:
        return np.asarray(self._llm.input_ids[: self._llm.n_tokens], dtype=np.intc).tobytes()

    def _load(self, snapshot) -> None:
        assert np.array_equal(np.frombuffer(snapshot.state, dtype=np.intc), snapshot.tokens)
        self._llm.input_ids[: len(snapshot.tokens)] = snapshot.tokens
        self._llm.n_tokens = len(snapshot.tokens)


SYSTEM = list(range(1000, 1100))
SHOTS = {c: list(range(base, base + 200)) for c, base in (("a", 2000), ("b", 3000), ("c", 4000))}


def prompt(cls: str, query: int) -> list[int]:
    return [*SYSTEM, *SHOTS[cls], query, query + 1, query + 2]


def run(states: PrefixStates, llm: FakeLlama, tokens: list[int]) -> int:
    """One call as the decoder makes it; returns how many prompt tokens it had to evaluate."""
    pending = states.restore(tokens)
    llm.eval(pending)
    states.save()
    llm.eval([7, 8, 9])  # the answer's tokens, which later prompts do not share
    return len(pending)


def test_a_prompt_takes_the_snapshot_sharing_its_longest_prefix() -> None:
    llm = FakeLlama()
    states = FakeStates(llm)
    assert run(states, llm, prompt("a", 1)) == 303
    assert run(states, llm, prompt("b", 2)) == 203  # only the system prompt is in the context
    assert run(states, llm, prompt("a", 3)) == 3  # class a's shots come back from its snapshot
    assert states.restored == 1
    assert run(states, llm, prompt("a", 4)) == 3  # straight from the live context
    assert states.restored == 1
    assert list(llm.input_ids[:300]) == [*SYSTEM, *SHOTS["a"]]


def test_a_prompt_replaces_the_snapshot_it_was_restored_from_but_not_another_kinds() -> None:
    llm = FakeLlama()
    states = FakeStates(llm)
    for query, cls in enumerate("abcabcab"):
        run(states, llm, prompt(cls, 10 * query))
    assert len(states.snapshots) == 3  # one per class of shots
    assert [s.tokens[100] for s in states.snapshots] == [4000, 2000, 3000]  # least recently used first


def test_the_oldest_snapshot_goes_beyond_capacity_and_small_gains_use_the_context() -> None:
    llm = FakeLlama()
    states = FakeStates(llm, capacity=2)
    for query, cls in enumerate("abc"):
        run(states, llm, prompt(cls, 10 * query))
    assert [s.tokens[100] for s in states.snapshots] == [3000, 4000]
    assert run(states, llm, prompt("a", 99)) == 203  # a's snapshot is gone
    near = [*SYSTEM, *SHOTS["a"][: MIN_GAIN - 1], 5]
    run(states, llm, prompt("b", 50))
    restored = states.restored
    run(states, llm, near)  # shares only MIN_GAIN - 1 more tokens with a snapshot than with the context
    assert states.restored == restored


def test_capacity_zero_keeps_nothing() -> None:
    llm = FakeLlama()
    states = FakeStates(llm, capacity=0)
    run(states, llm, prompt("a", 1))
    assert states.snapshots == [] and run(states, llm, prompt("a", 2)) == 3
