"""CLI: `stillhouse jobs` (registered on import)."""

from __future__ import annotations

from stillhouse.cli.app import app, jobs_app  # noqa: F401
