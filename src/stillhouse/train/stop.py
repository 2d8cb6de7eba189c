"""Stopping a training run cleanly: a caller's ``should_stop`` callback, or Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class StopSignal:
    """Why the loop should stop at the next step boundary: a caller's ``should_stop`` or Ctrl-C."""

    def __init__(self, should_stop: Callable[[], bool] | None) -> None:
        self._should_stop = should_stop
        self.interrupted = False

    def requested(self) -> bool:
        asked = bool(self._should_stop and self._should_stop())
        return asked or self.interrupted  # read after the callback: it may have raised the signal

    @contextmanager
    def catching_ctrl_c(self) -> Iterator[None]:
        """Turn the first SIGINT into a clean stop request (main thread only; others cannot)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def on_sigint(signum: int, frame: Any) -> None:
            self.interrupted = True
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C aborts

        signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
