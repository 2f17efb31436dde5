"""The production gate: production hosting and DNS need a passing `provision test` on the
commit that is to be installed, unless forced with a reason (audited).

The commit to be installed is the commit of the request's latest successful install
(production if there is one, else staging: the one step 14 tested). The gate passes
when the latest test run of that commit passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from provision.errors import UnsafePlan, UsageError
from provision.store.models import Install, TestRun


class GateRefused(UnsafePlan):
    """No passing test on the commit to be installed (exit 4)."""


@dataclass
class GateResult:
    passed: bool  # the test gate was met (False when forced or not applicable)
    forced: bool
    commit: str | None
    test_run_id: int | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "forced": self.forced, "commit": self.commit,
                "test_run": self.test_run_id, "message": self.message}


def _commit_to_install(app: Any, request_id: str, env: str) -> str | None:
    with app.store.read() as s:
        for e in (env, "staging"):
            commit = s.execute(select(Install.commit).where(
                Install.request_id == request_id, Install.env == e, Install.status == "succeeded",
                Install.commit.is_not(None)).order_by(Install.id.desc()).limit(1)).scalar()
            if commit:
                return commit
    return None


def check(app: Any, request_id: str) -> GateResult:
    """The gate's verdict for production, without raising or recording anything."""
    commit = _commit_to_install(app, request_id, "production")
    if commit is None:
        return GateResult(False, False, None, None,
                          f"{request_id} has no successful install, so no tested commit to put in production")
    with app.store.read() as s:
        run = s.execute(select(TestRun).where(TestRun.request_id == request_id, TestRun.commit == commit)
                        .order_by(TestRun.id.desc()).limit(1)).scalar()
    if run is None:
        return GateResult(False, False, commit, None, f"commit {commit[:12]} of {request_id} was never tested")
    if not run.passed:
        return GateResult(False, False, commit, run.id,
                          f"the latest test of commit {commit[:12]} of {request_id} failed (test run {run.id})")
    return GateResult(True, False, commit, run.id,
                      f"commit {commit[:12]} passed `provision test` (test run {run.id})")


def require_passing_test(app: Any, request_id: str, env: str, *, force: bool = False,
                         reason: str | None = None, provider: str = "hosting") -> GateResult:
    """Refuse production work for a request whose commit to be installed has no passing test.

    `env` other than "production" passes without checking. With `force` (which needs a
    `reason`) a failing gate is overridden and the override is recorded in the audit log
    under `provider`. Raises GateRefused (exit 4) or UsageError (force without reason).
    """
    if env != "production":
        return GateResult(True, False, None, None, f"no gate for {env}")
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason TEXT: the reason goes to the audit log.")
    result = check(app, request_id)
    if result.passed:
        return result
    if not force:
        raise GateRefused(f"production {provider} for {request_id} refused: {result.message}.",
                          "Install and test it first (`provision install`, `provision test`), or override "
                          "with --force --reason TEXT (recorded in the audit log).")
    app.audit.append(provider, "gate-override", f"{request_id} production", outcome="recorded",
                     after={**result.as_dict(), "forced": True}, reason=reason, request_id=request_id)
    return GateResult(False, True, result.commit, result.test_run_id, f"forced: {result.message}")
