"""chaostoolkit-cdn: chaos engineering for static sites on CloudFront + S3.

The public surface is small: the error tree, the target, the package version, and
:func:`discover`, which ``chaos discover chaostoolkit-cdn`` looks for in this package.
Chaos Toolkit activities live in :mod:`chaos_runner.faults` and :mod:`probes`.
"""

from chaos_runner._errors import (
    AwsCallError,
    ChaosRunnerError,
    ConfigurationError,
    FaultNotVerified,
    LedgerError,
    RestoreConflict,
    SandboxError,
)
from chaos_runner.discovery import discover

__version__ = "0.1.0"

__all__ = [
    "AwsCallError",
    "ChaosRunnerError",
    "ConfigurationError",
    "FaultNotVerified",
    "LedgerError",
    "RestoreConflict",
    "SandboxError",
    "__version__",
    "discover",
]
