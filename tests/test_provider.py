"""The one record-then-act loop (provision/provider.py), as logic: the order of the audit
records around each action, stops, not-attempted changes, late outcomes. The providers'
own tests run it against BIND, the GitLab emulator and the sandbox servers."""

from __future__ import annotations

from typing import Any

import pytest

from provision.errors import ProvisionError
from provision.plan import ApplyReport, Change, Plan
from provision.provider import Outcome, Provider


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def attempt(self, provider: str, change: Change) -> int:
        self.lines.append(f"attempted {change.target}")
        return len(self.lines)

    def succeeded(self, attempt_id: int, provider: str, change: Change, detail: Any = None) -> None:
        self.lines.append(f"succeeded {change.target} ref={attempt_id} {detail}")

    def failed(self, attempt_id: int, provider: str, change: Change, reason: str) -> None:
        self.lines.append(f"failed {change.target} ref={attempt_id} {reason}")


class Toy(Provider):
    name = "toy"

    def __init__(self, fail_at: str | None = None, crash_at: str | None = None, late: bool = False) -> None:
        self.fail_at, self.crash_at, self.late, self.acted = fail_at, crash_at, late, []

    def _apply_batch(self, batch: list[Change], run: Any) -> Outcome:
        (c,) = batch
        if c.target == self.crash_at:
            raise KeyboardInterrupt
        self.acted.append(c.target)
        if c.target == self.fail_at:
            e = ProvisionError(f"{c.target} refused")
            return Outcome(failed=[(c, str(e))], stop=e)
        return Outcome(sent=[c]) if self.late else Outcome(done=[(c, "ok")])

    def _confirm(self, sent: list[Change], run: Any,
                 report: ApplyReport) -> tuple[list[tuple[Change, Any]], list[tuple[Change, str]]]:
        return [(c, "read back") for c in sent if c.target != "b"], [(c, "not there") for c in sent if c.target == "b"]


def plan_of(*targets: str) -> Plan:
    return Plan("toy", "REQ-1", [Change("create", "toy.thing", t) for t in targets])


def test_each_change_is_recorded_before_it_is_made_and_settled_after() -> None:
    log = Log()
    report = Toy().apply(plan_of("a", "b"), log)
    assert log.lines == ["attempted a", "succeeded a ref=1 ok", "attempted b", "succeeded b ref=3 ok"]
    assert [c.target for c in report.applied] == ["a", "b"] and report.ok


def test_a_stop_leaves_the_rest_not_attempted_and_raises() -> None:
    log, toy = Log(), Toy(fail_at="b")
    with pytest.raises(ProvisionError, match="b refused"):
        toy.apply(plan_of("a", "b", "c"), log)
    assert toy.acted == ["a", "b"]
    assert log.lines == ["attempted a", "succeeded a ref=1 ok", "attempted b", "failed b ref=3 b refused"]


def test_an_interruption_records_the_batch_as_failed_and_propagates() -> None:
    log = Log()
    with pytest.raises(KeyboardInterrupt):
        Toy(crash_at="b").apply(plan_of("a", "b", "c"), log)
    assert log.lines[-2:] == ["attempted b", "failed b ref=3 KeyboardInterrupt"]


def test_late_outcomes_are_settled_after_confirmation() -> None:
    log = Log()
    report = Toy(late=True).apply(plan_of("a", "b"), log)
    assert log.lines == ["attempted a", "attempted b", "succeeded a ref=1 read back", "failed b ref=2 not there"]
    assert [c.target for c in report.applied] == ["a"] and report.failed[0][1] == "not there"


def test_an_empty_plan_records_nothing() -> None:
    log = Log()
    assert Toy().apply(plan_of(), log).ok and log.lines == []
