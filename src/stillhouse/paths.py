"""Where stillhouse keeps its state on disk. Everything hangs off ``STILLHOUSE_HOME``."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Root folder for caches, object store, job database and models (``STILLHOUSE_HOME``)."""
    return Path(os.environ.get("STILLHOUSE_HOME", Path.home() / ".cache" / "stillhouse")).expanduser()


def models_dir() -> Path:
    """Assembled packaged models (``STILLHOUSE_MODELS`` overrides)."""
    env = os.environ.get("STILLHOUSE_MODELS")
    return Path(env).expanduser() if env else home() / "models"


def object_store_dir() -> Path:
    """Local folder that ``s3://bucket/key`` URIs map to (``STILLHOUSE_S3_ROOT`` overrides)."""
    env = os.environ.get("STILLHOUSE_S3_ROOT")
    return Path(env).expanduser() if env else home() / "s3"


def cache_dir() -> Path:
    """Teacher request cache and other memoised work."""
    return home() / "cache"
