"""Where commands write: checked before the work starts, written atomically, rescued when writing fails.

A run that labels, trains or evaluates for minutes must not discover at the end that its output
folder sits under a file or on a read-only disk; :func:`check_output_file` and
:func:`check_output_dir` find out first, by doing what the run will do (create a file there).
:func:`atomic_file` writes a temporary file and renames it into place with the umask's permissions,
not ``mkstemp``'s owner-only 0600 (``records.jsonl.write_records`` does the same in place, since
records/ imports nothing but errors and chat).
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

from stillhouse.errors import OutputPathError

T = TypeVar("T")


def check_output_dir(path: str | Path, *, field: str = "out") -> Path:
    """Make sure ``path`` is, or can become, a folder this process can create files in.

    Nothing is left behind: the nearest existing folder on the way gets a probe file, then loses it.
    """
    folder = Path(path)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(f"cannot write to {folder}: {existing} is a file, not a folder", field=field)
    try:
        _probe(existing)
    except OSError as exc:
        raise OutputPathError(f"cannot write to {folder}: {exc.strerror or exc}", field=field) from exc
    return folder


def check_output_file(path: str | Path, *, field: str = "out") -> Path:
    """Make sure the file ``path`` can be written: its folder exists or can be made, and takes files."""
    target = Path(path)
    if target.is_dir():
        raise OutputPathError(f"{target} is a folder, not a file", field=field)
    check_output_dir(target.parent, field=field)
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputPathError(f"cannot write to {target}: permission denied", field=field)
    return target


def _probe(folder: Path) -> None:
    """Create and remove a file in ``folder`` (``os.access`` says yes to root on a read-only disk)."""
    probe = folder / f".stillhouse-probe-{secrets.token_hex(4)}"
    os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    probe.unlink()


@contextmanager
def atomic_file(
    path: str | Path, mode: str = "w", *, suffix: str = ".tmp", **open_kwargs: Any
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success it replaces ``path``, on failure it is removed.

    The file is created with mode 0666 less the umask, as ``open`` would make it.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}{suffix}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_or_rescue(write: Callable[[], T], *, dump: Callable[[], str], name: str) -> T:
    """Run ``write``; if it fails, save ``dump()`` under the temp folder and raise naming that file.

    For results that took long to compute: a failed write (a full disk, a folder removed meanwhile, a
    figure that would not draw) must not throw them away.
    """
    try:
        return write()
    except Exception as exc:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        rescue = Path(tempfile.gettempdir()) / f"stillhouse-{stamp}-{secrets.token_hex(2)}-{name}"
        rescue.write_text(dump(), encoding="utf-8")
        reason = f"{exc.filename}: {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OutputPathError(
            f"cannot write the results ({reason}); they are saved in {rescue}", field="out"
        ) from exc
