"""Fault injection (5xx, slow answers, dropped connections, 429 storms) and call counters."""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field

READ_METHODS = ("GET", "HEAD")


@dataclass
class Fault:
    """One rule: requests whose `METHOD path` matches `pattern` get `kind` until `times` runs out."""

    pattern: str
    kind: str  # "status", "delay", "drop" or "rate_limit"
    times: int | None = 1  # None: for ever
    status: int = 500
    delay: float = 0.0
    retry_after: int = 1
    methods: frozenset[str] | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        return re.search(self.pattern, path) is not None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


class Faults:
    """Rules are tried in the order added; the first live match applies and counts one hit.

    `pattern` is a regular expression searched in the raw (percent-encoded) request path,
    e.g. `/api/v4/projects$`, `/protected_branches`, `\\.git/`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rules: list[Fault] = []

    def _add(self, fault: Fault, methods: tuple[str, ...] | list[str] | None) -> Fault:
        fault.methods = frozenset(m.upper() for m in methods) if methods else None
        with self._lock:
            self.rules.append(fault)
        return fault

    def error(self, pattern: str = ".*", status: int = 500, times: int | None = 1, methods: list[str] | None = None) -> Fault:
        """Answer `status` (500, 502, 503...) with GitLab's JSON error body."""
        return self._add(Fault(pattern, "status", times, status=status), methods)

    def slow(self, pattern: str = ".*", seconds: float = 1.0, times: int | None = 1, methods: list[str] | None = None) -> Fault:
        """Wait `seconds` before answering normally (for client time-outs)."""
        return self._add(Fault(pattern, "delay", times, delay=seconds), methods)

    def drop(self, pattern: str = ".*", times: int | None = 1, methods: list[str] | None = None) -> Fault:
        """Close the connection after reading the request, without any answer."""
        return self._add(Fault(pattern, "drop", times), methods)

    def rate_limit(self, pattern: str = ".*", times: int | None = 3, retry_after: int = 1, methods: list[str] | None = None) -> Fault:
        """Answer 429 `Retry later` with Retry-After and RateLimit-* headers."""
        return self._add(Fault(pattern, "rate_limit", times, status=429, retry_after=retry_after), methods)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.rules:
                if not fault.exhausted and fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # raw path without the query
    status: int
    kind: str  # "api" or "git"


@dataclass
class CallLog:
    """Every request the emulator received (admin helpers make none): read, count, reset."""

    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()

    def api(self, pattern: str | None = None, method: str | None = None) -> list[Call]:
        with self._lock:
            found = [c for c in self.calls if c.kind == "api"]
        if method is not None:
            found = [c for c in found if c.method == method.upper()]
        if pattern is not None:
            found = [c for c in found if re.search(pattern, c.path)]
        return found

    @property
    def reads(self) -> int:
        """API calls with GET or HEAD."""
        return sum(1 for c in self.api() if c.method in READ_METHODS)

    @property
    def writes(self) -> int:
        """API calls with POST, PUT, PATCH or DELETE."""
        return sum(1 for c in self.api() if c.method not in READ_METHODS)

    def write_calls(self) -> list[Call]:
        return [c for c in self.api() if c.method not in READ_METHODS]

    def by_method(self) -> Counter[str]:
        return Counter(c.method for c in self.api())

    def by_route(self) -> Counter[str]:
        """`METHOD path` with numeric ids and encoded paths folded to `:id`, for summaries."""
        folded = Counter()
        for c in self.api():
            path = re.sub(r"/(\d+|[^/]*%2F[^/]*)(?=/|$)", "/:id", c.path)
            folded[f"{c.method} {path}"] += 1
        return folded
