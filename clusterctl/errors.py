"""The one exception type users see: a one-line message and an exit code."""

from __future__ import annotations

# Exit codes: 1 = the thing checked is wrong (invalid cluster, failed drill),
# 2 = bad input (unreadable inventory, unknown host, bad flag value).
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class ClusterctlError(Exception):
    """An error the CLI prints as one line and turns into ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class BadInput(ClusterctlError):
    """Input the user can fix: a missing file, malformed YAML, an unknown host."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_BAD_INPUT)
