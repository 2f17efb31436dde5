"""One error tree. Every expected failure is a ProvisionError with an exit code.

The CLI turns these into one line on stderr (what failed, what to do next) and the
exit code below; anything else is an internal error (exit 1, traceback with --debug).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes (the table in docs/cli.md)."""

    OK = 0
    FAILURE = 1
    USAGE = 2  # bad usage or input: nothing was touched
    CHECKS_FAILED = 3  # tests or checks ran and some failed
    UNSAFE_PLAN = 4  # plan refused by a safety threshold or ownership rule
    PARTIAL_APPLY = 5  # some changes applied, some not: the report says which
    LOCK_TIMEOUT = 6  # another run holds the request's lock
    CONFLICT = 7  # the target changed between plan and apply: plan again
    UNREACHABLE = 8  # a server could not be reached or timed out
    AUTH = 9  # credentials refused (bad token, bad TSIG key, missing scope)
    ABORTED = 10  # the user declined or interrupted (Ctrl-C)
    STATE = 11  # state store unusable (unreachable, newer schema)
    NOTHING_TO_CHECK = 12  # a check found nothing registered to check (an empty or wrong state)


#: What each exit code means, in a command's help (one table for every command; docs/cli.md).
EXIT_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "done", ExitCode.FAILURE: "failed", ExitCode.USAGE: "bad usage or input, nothing touched",
    ExitCode.CHECKS_FAILED: "tests or checks failed", ExitCode.UNSAFE_PLAN: "plan refused as unsafe",
    ExitCode.PARTIAL_APPLY: "partly applied (the report says what)", ExitCode.LOCK_TIMEOUT: "request locked by "
    "another run", ExitCode.CONFLICT: "changed since planned: plan again", ExitCode.UNREACHABLE: "server unreachable",
    ExitCode.AUTH: "credentials refused", ExitCode.ABORTED: "declined or interrupted",
    ExitCode.STATE: "state store unusable", ExitCode.NOTHING_TO_CHECK: "nothing to check",
}


def exit_codes_help() -> str:
    """The exit-code table as the epilog of a command's --help (kept as written: \b)."""
    return "\b\nExit codes (docs/cli.md):\n" + "\n".join(
        f"  {int(code):>2}  {meaning}" for code, meaning in EXIT_MEANINGS.items())


class ProvisionError(Exception):
    """Base of every expected error.

    `hint` says what to do next; `exit_code` is what the CLI exits with.
    """

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class UsageError(ProvisionError, ValueError):
    exit_code = ExitCode.USAGE


class ValidationError(UsageError):
    """Bad input: carries every problem found, each naming its field."""

    def __init__(self, problems: list[Problem], what: str = "input") -> None:
        self.problems = problems
        n = len(problems)
        lines = "; ".join(str(p) for p in problems)
        super().__init__(f"invalid {what} ({n} problem{'s' if n != 1 else ''}): {lines}")


class Problem:
    """One validation problem: the field (dotted path), what is wrong, and the line."""

    __slots__ = ("field", "message", "line")

    def __init__(self, field: str, message: str, line: int | None = None) -> None:
        self.field = field
        self.message = message
        self.line = line

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.field}{where}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"field": self.field, "message": self.message, "line": self.line}

    def __repr__(self) -> str:
        return f"Problem({self.field!r}, {self.message!r}, line={self.line})"


class ConfigError(UsageError):
    pass


class SecretError(ConfigError):
    """A secret that is missing, unreadable or too widely readable."""


class NotFound(ProvisionError, LookupError):
    exit_code = ExitCode.USAGE


class StateError(ProvisionError):
    """The state store cannot be used: unreachable, or a newer schema than this code."""

    exit_code = ExitCode.STATE


class RequestClosed(ProvisionError):
    exit_code = ExitCode.USAGE


class LockTimeout(ProvisionError):
    exit_code = ExitCode.LOCK_TIMEOUT


class UnsafePlan(ProvisionError):
    exit_code = ExitCode.UNSAFE_PLAN


class OwnershipError(UnsafePlan):
    """A change would touch something another request (or a person) owns."""


class Conflict(ProvisionError):
    """The target changed between plan and apply."""

    exit_code = ExitCode.CONFLICT


class PartialApply(ProvisionError):
    """Some changes were applied and some were not. `applied`/`failed` say which."""

    exit_code = ExitCode.PARTIAL_APPLY

    def __init__(self, message: str, applied: list[str], failed: list[str], hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.applied = applied
        self.failed = failed


class Unreachable(ProvisionError):
    exit_code = ExitCode.UNREACHABLE


class AuthError(ProvisionError):
    exit_code = ExitCode.AUTH


class ChecksFailed(ProvisionError):
    exit_code = ExitCode.CHECKS_FAILED


class NothingToCheck(ProvisionError):
    exit_code = ExitCode.NOTHING_TO_CHECK


class Aborted(ProvisionError):
    exit_code = ExitCode.ABORTED


class ProviderError(ProvisionError):
    """A provider's server answered with an error we do not map more precisely."""
