"""Exceptions with the exit codes the command line maps them to.

Every error a user can cause is a :class:`UserInputError` (exit code 2) whose message is
one line naming the offending key, value or file.  A run that becomes numerically
unstable raises :class:`InstabilityError` (exit code 3).
"""


class FokkerPlanckError(Exception):
    """Base class of the package's own errors."""

    exit_code = 1


class UserInputError(FokkerPlanckError, ValueError):
    """Bad configuration, data file, command-line value or output path (exit code 2)."""

    exit_code = 2


class InstabilityError(FokkerPlanckError, RuntimeError):
    """A guard on positivity, mass or finiteness tripped during a run (exit code 3)."""

    exit_code = 3


class Interrupted(KeyboardInterrupt):
    """Ctrl-C honoured at a safe point: every complete snapshot is on disk (exit code 130)."""

    exit_code = 130

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
