"""``chaos gameday validate|run|note|schedule|export|review``.

Importing this package registers every command on :data:`app` (one module each).
"""

from chaos_runner.cli.gameday import (  # noqa: F401  (each module registers its command)
    export,
    note,
    review,
    run,
    schedule,
    validate,
)
from chaos_runner.cli.gameday._app import app

__all__ = ["app"]
