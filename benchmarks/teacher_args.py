"""The command-line options the teacher benchmarks share: which teacher, how many shots, which queries."""

from __future__ import annotations

import argparse
from pathlib import Path


def teacher_parser(
    doc: str | None,
    n_default: int | None,
    n_help: str,
    cache_help: str = "request cache (default: the teacher's)",
) -> argparse.ArgumentParser:
    """A parser with ``--n``, ``--teacher``, ``--k``, ``--max-tokens`` and ``--cache``.

    ``cache_help`` says where each benchmark keeps answers when ``--cache`` is not given.
    """
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=n_default, help=n_help)
    parser.add_argument("--teacher", default="qwen2.5-coder-1.5b")
    parser.add_argument("--k", type=int, default=4, help="golden examples per query")
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--cache", type=Path, default=None, help=cache_help)
    return parser
