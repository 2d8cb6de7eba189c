"""CLI: `stillhouse models` (registered on import)."""

from __future__ import annotations

from stillhouse.cli.app import app, models_app  # noqa: F401
