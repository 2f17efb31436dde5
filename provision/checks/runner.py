"""Run check units with bounded concurrency and a timeout each.

A `Unit` is one piece of work that yields Results: the DNS comparison of one
authoritative server, the facts of one host for every application on it, one smoke URL,
one certificate, one GitLab project. Units run on worker threads, at most `concurrency`
at once. Each has a deadline: when it passes, the runner records a failure for every
request the unit covers ("did not answer within 10 s") and gives its slot to the next
unit at once. The late thread is abandoned, not waited for (every socket a unit opens has
its own timeout, so it ends soon after); so a dead target costs its timeout and never
stalls the run. A unit that raises becomes a failure with the exception's message.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from provision.checks.results import Result, failed


class Deadline:
    """When a unit must be done; I/O inside a unit takes `left()` as its timeout."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self, floor: float = 0.05) -> float:
        return max(floor, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at


@dataclass
class Unit:
    kind: str  # dns|http|tls|host|gitlab
    label: str  # what a timeout or crash is reported as (e.g. "host kominfo3")
    requests: Sequence[str | None]  # who a timeout or crash is reported against
    fn: Callable[[Deadline], list[Result]]
    timeout: float
    name: str = ""  # the result name for a timeout or crash; default: the label

    def failure(self, message: str, seconds: float) -> list[Result]:
        return [failed(self.kind, rid, self.name or self.label, message).with_duration(seconds)
                for rid in (self.requests or [None])]


def _work(index: int, unit: Unit, deadline: Deadline, done: queue.Queue[tuple[int, list[Result] | BaseException]]) -> None:
    try:
        out: list[Result] | BaseException = unit.fn(deadline)
    except BaseException as e:  # reported as the unit's failure, never lost
        out = e
    done.put((index, out))


def run_units(units: Sequence[Unit], concurrency: int) -> list[Result]:
    """Run every unit; return all results (in unit order). Never raises for a unit's failure."""
    done: queue.Queue[tuple[int, list[Result] | BaseException]] = queue.Queue()
    pending = list(range(len(units)))
    pending.reverse()
    running: dict[int, tuple[float, Deadline]] = {}  # index -> (start, deadline)
    out: dict[int, list[Result]] = {}
    while pending or running:
        while pending and len(running) < max(1, concurrency):
            i = pending.pop()
            d = Deadline(units[i].timeout)
            running[i] = (time.monotonic(), d)
            threading.Thread(target=_work, args=(i, units[i], d, done), daemon=True,
                             name=f"check-{units[i].kind}-{i}").start()
        first = min(d.at for _, d in running.values())
        try:
            i, res = done.get(timeout=max(0.0, first - time.monotonic()))
        except queue.Empty:
            i = -1
        if i in running:
            start, _ = running.pop(i)
            elapsed = time.monotonic() - start
            unit = units[i]
            if isinstance(res, BaseException):
                msg = str(res) or type(res).__name__
                out[i] = unit.failure(f"{unit.label}: {msg}", elapsed)
            else:
                out[i] = [r if r.duration else r.with_duration(elapsed) for r in res]
        now = time.monotonic()
        for j, (start, d) in list(running.items()):
            if now >= d.at:  # abandoned: its thread ends on its own socket timeouts
                running.pop(j)
                out[j] = units[j].failure(f"{units[j].label} did not answer within {units[j].timeout:g} s",
                                          now - start)
    return [r for i in range(len(units)) for r in out.get(i, [])]


def run_sequential(units: Sequence[Unit]) -> list[Result]:
    """The same units one after another (the benchmark's baseline)."""
    return run_units(units, 1)
