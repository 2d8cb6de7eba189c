"""CLI: `stillhouse evaluate` (registered on import)."""

from __future__ import annotations

from stillhouse.cli.app import app  # noqa: F401
