"""One transformers load at a time per process: from_pretrained swaps PreTrainedModel.tie_weights on
the class while it builds a model, so two loads on two threads can leave the no-op there for good."""

from __future__ import annotations

import threading
import time

from stillhouse.models.hf_loading import one_load_at_a_time


def test_loads_on_different_threads_never_overlap() -> None:
    inside, most, start = [0], [0], threading.Barrier(4)
    guard = threading.Lock()

    def load() -> None:
        start.wait(5)
        with one_load_at_a_time():
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)  # long enough for every other thread to arrive while this one loads
            with guard:
                inside[0] -= 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert most[0] == 1


def test_a_load_that_loads_a_part_of_itself_takes_the_lock_again() -> None:
    done = threading.Event()

    def nested() -> None:
        with one_load_at_a_time(), one_load_at_a_time():
            done.set()

    thread = threading.Thread(target=nested, daemon=True)
    thread.start()
    thread.join(5)
    assert done.is_set()
