"""THE lock every transformers model load in stillhouse takes: one ``from_pretrained`` at a time.

transformers 5 builds a model with ``PreTrainedModel.tie_weights`` swapped for a no-op *on the class*
(``transformers.initialization.no_tie_weights``) and puts back whatever it found there when it is
done. Two loads on two threads interleave that save and restore: the second saves the no-op, the
first puts the real method back, then the second restores the no-op, and from then on every model
the process loads keeps its tied weights untied (SmolLM2's ``lm_head`` stays on the meta device and
``save_pretrained`` fails). Deployments, teacher workers and video-ingest workers load models on
threads, so each load goes through :func:`one_load_at_a_time`. Reentrant: a load that loads a part of
itself (a sentence-transformers folder, a LoRA base) may take it again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOAD = threading.RLock()


@contextmanager
def one_load_at_a_time() -> Iterator[None]:
    """Hold the process's model-load lock for the ``with`` block (waiting for a load on another thread)."""
    with _LOAD:
        yield
