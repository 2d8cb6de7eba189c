"""The ``stillhouse`` command line. Each submodule registers its commands on :data:`app`.

Submodules import only typer/rich at module level; heavy libraries load inside the commands.
"""

from stillhouse.cli import (  # noqa: F401  (imported for their command registrations)
    batch,
    demo,
    evaluate,
    images,
    jobs,
    label,
    models,
    search,
    search_video,
    serve,
    tasks,
    train,
    validate,
)
from stillhouse.cli.app import app, main

__all__ = ["app", "main"]
