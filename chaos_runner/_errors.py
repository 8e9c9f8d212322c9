"""The error tree of chaos_runner.

    ChaosRunnerError            every error this package raises on purpose
     ├── ConfigurationError     bad input: missing target variable, wrong argument value
     ├── SandboxError           the local sandbox could not start, stop or be found
     ├── AwsCallError           an AWS (or sandbox) API answered with an error we cannot act on
     ├── FaultNotVerified       a fault was applied but its effect could not be observed
     ├── RestoreConflict        the resource changed since the fault; restore left it alone
     └── LedgerError            the ledger file is unreadable or cannot be written durably

Messages are full sentences: what was expected, what was seen, how to fix it.
Only the CLI layer turns these into exit codes.
"""


class ChaosRunnerError(Exception):
    """Root of every error raised on purpose by chaos_runner and probes."""


class ConfigurationError(ChaosRunnerError):
    """The user's input (arguments, environment, experiment) cannot be used as given."""


class SandboxError(ChaosRunnerError):
    """The local sandbox stack could not be started, reached or stopped."""


class AwsCallError(ChaosRunnerError):
    """An AWS API call failed in a way the caller cannot recover from."""

    def __init__(self, message: str, *, operation: str, code: str | None = None) -> None:
        super().__init__(message)
        self.operation = operation
        self.code = code


class FaultNotVerified(ChaosRunnerError):
    """A fault was applied but its effect was not observed in time (experiment inconclusive)."""


class RestoreConflict(ChaosRunnerError):
    """The resource was changed by someone else since the fault; restore did not overwrite it."""


class LedgerError(ChaosRunnerError):
    """The ledger cannot be read or written durably."""
