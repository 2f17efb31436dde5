"""The Result of one check, and a run's summary.

A Result says which check (`dns`, `http`, `tls`, `host`, `gitlab`), for which request
(None for zone-wide findings such as a name no request owns), what was checked (`name`),
`pass`, `warn` or `fail`, a one-line message, and how long it took.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "warn", "fail"]
KINDS = ("dns", "http", "tls", "host", "gitlab")
STATUSES: tuple[Status, ...] = ("pass", "warn", "fail")


@dataclass(frozen=True)
class Result:
    check: str
    request: str | None
    name: str
    status: Status
    message: str = ""
    duration: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["duration"] = round(self.duration, 4)
        return d

    def key(self) -> tuple[str, str, str, str, str]:
        """What makes two runs' results 'the same' (everything but the duration)."""
        return (self.check, self.request or "", self.name, self.status, self.message)

    def with_duration(self, seconds: float) -> Result:
        return Result(self.check, self.request, self.name, self.status, self.message, seconds)


def passed(check: str, request: str | None, name: str, message: str = "ok") -> Result:
    return Result(check, request, name, "pass", message)


def warned(check: str, request: str | None, name: str, message: str) -> Result:
    return Result(check, request, name, "warn", message)


def failed(check: str, request: str | None, name: str, message: str) -> Result:
    return Result(check, request, name, "fail", message)


@dataclass
class Summary:
    """Counts per status and per check kind; `ok` when nothing failed."""

    results: list[Result]
    seconds: float = 0.0  # the whole run
    setup_seconds: float = 0.0  # of which reading the registry, inventory and specs
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = {s: sum(1 for r in self.results if r.status == s) for s in STATUSES}

    @property
    def ok(self) -> bool:
        return self.counts["fail"] == 0

    def by_kind(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.results:
            out.setdefault(r.check, {s: 0 for s in STATUSES})[r.status] += 1
        return out

    def line(self) -> str:
        c = self.counts
        return (f"{len(self.results)} checks: {c['pass']} passed, {c['warn']} warnings, "
                f"{c['fail']} failed ({self.seconds:.1f} s)")


def sort_results(results: list[Result]) -> list[Result]:
    order = {k: i for i, k in enumerate(KINDS)}
    return sorted(results, key=lambda r: (r.request or "~", order.get(r.check, 99), r.name, r.message))
