"""The runner: bounded concurrency, per-unit timeouts, crashes reported, order kept."""

from __future__ import annotations

import threading
import time

from provision.checks.results import Result, passed
from provision.checks.runner import Deadline, Unit, run_sequential, run_units


def _sleeper(seconds: float, rid: str, active: list[int], peak: list[int], lock: threading.Lock):
    def fn(d: Deadline) -> list[Result]:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(seconds)
        with lock:
            active[0] -= 1
        return [passed("http", rid, "sleep", f"slept {seconds}")]
    return fn


def test_concurrency_is_bounded_and_results_keep_unit_order() -> None:
    active, peak, lock = [0], [0], threading.Lock()
    units = [Unit("http", f"u{i}", [f"REQ-{i}"], _sleeper(0.1, f"REQ-{i}", active, peak, lock), 5)
             for i in range(12)]
    start = time.monotonic()
    results = run_units(units, 4)
    elapsed = time.monotonic() - start
    assert peak[0] == 4
    assert [r.request for r in results] == [f"REQ-{i}" for i in range(12)]
    assert 0.25 < elapsed < 1.0  # 3 waves of 0.1 s, not 12
    assert all(r.duration >= 0.09 for r in results)


def test_a_hung_unit_is_reported_at_its_timeout_and_frees_its_slot() -> None:
    release = threading.Event()

    def hang(d: Deadline) -> list[Result]:
        release.wait(30)
        return [passed("host", "REQ-1", "late")]

    quick = [Unit("http", f"q{i}", [f"REQ-{i + 2}"], lambda d, i=i: [passed("http", f"REQ-{i + 2}", "ok")], 5)
             for i in range(5)]
    units = [Unit("host", "host kominfo9", ["REQ-1", "REQ-X"], hang, 0.5, name="kominfo9: ssh")] + quick
    start = time.monotonic()
    try:
        results = run_units(units, 1)  # one slot: the quick units only run once the hung one is given up
    finally:
        release.set()
    elapsed = time.monotonic() - start
    assert elapsed < 1.5
    hung = [r for r in results if r.check == "host"]
    assert [(r.request, r.status, r.name) for r in hung] == [("REQ-1", "fail", "kominfo9: ssh"),
                                                              ("REQ-X", "fail", "kominfo9: ssh")]
    assert hung[0].message == "host kominfo9 did not answer within 0.5 s"
    assert 0.45 < hung[0].duration < 1.0
    assert sum(r.status == "pass" for r in results) == 5


def test_a_crashing_unit_becomes_a_failure_with_its_message() -> None:
    def boom(d: Deadline) -> list[Result]:
        raise RuntimeError("the fact script exited 2: no such file")

    results = run_units([Unit("host", "host kominfo1", ["REQ-1"], boom, 5, name="kominfo1: ssh")], 4)
    assert len(results) == 1
    r = results[0]
    assert (r.check, r.request, r.status) == ("host", "REQ-1", "fail")
    assert r.message == "host kominfo1: the fact script exited 2: no such file"


def test_sequential_gives_the_same_results() -> None:
    active, peak, lock = [0], [0], threading.Lock()
    units = [Unit("tls", f"u{i}", [f"R{i}"], _sleeper(0.01, f"R{i}", active, peak, lock), 5) for i in range(6)]
    a = [r.key() for r in run_units(units, 6)]
    peak[0] = 0
    b = [r.key() for r in run_sequential(units)]
    assert a == b
    assert peak[0] == 1


def test_deadline_left_never_negative() -> None:
    d = Deadline(0.01)
    time.sleep(0.02)
    assert d.expired()
    assert d.left() == 0.05
