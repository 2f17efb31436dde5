"""Crash safety of `provision apply` (issue 9, item 3), on the whole sandbox stack.

One stack (tests/e2e/stack.py: `python -m devstack.sandbox up` in a temp dir), two requests:

- the reference (`kpref`): steps 11, 14 and 15 applied without interruption, traced by
  tests/e2e/killable.py; it runs in a forked child while the crash chain runs;
- the crash request (`kpcrash`): the same commands, each run interrupted at a kill point
  (SIGKILL, or SIGINT to its process group as a terminal's Ctrl-C), then run again and
  interrupted again further on, until a run completes: a chain. The specs are `+N`
  (killable.py): the N-th point no earlier run of the chain passed, so every kill lands on
  work never reached before, whatever the re-run repeats or skips.

  Phase 1 (`apply --until 11`, about 2 s a run): every new point in turn, i.e. before,
  inside and after each GitLab change; two of them Ctrl-C inside a GitLab call.
  Phase 2 (`apply --ref v1.0.0`): a few points in each stage, SOP order; one kill inside
  each playbook and a Ctrl-C inside the hosting playbook (each costs a playbook restart),
  a Ctrl-C between stages.

After every interruption: the audit chain verifies; every change attempted before the kill
is in the log (each GitLab write, DNS UPDATE and playbook is preceded by its "attempted"
event, every "attempted" event has an outcome unless it was in flight when the run died,
every event the run wrote before the kill is there); no ansible-playbook of the request is
alive (checked at once: the runner's guard kills the tree); nothing in the zone or on
GitLab is there twice. After a Ctrl-C: exit 10 and a message naming each stage done so far;
inside a playbook, the change is logged as failed with the cancellation as its reason.
At the end: the crash request's zone records, GitLab project, server files, users,
databases, services, HTTPS answer and state records equal the reference's (names
normalised), nothing twice, one Berita Acara and one Surat Rekomendasi, no install left
"running", `provision audit verify` passes. The kills that fired are counted, not assumed.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import killable, snapshot
from tests.e2e.killable import KillSpec
from tests.e2e.stack import TAG, Stack, new_stack, remove

pytestmark = [pytest.mark.root, pytest.mark.slow]

REF, CRASH = "kpref", "kpcrash"

# Phase 1 (`apply --until 11`, about 2 s a run). A GitLab change has three points: its
# "attempted" event, the write request, its outcome event. A run killed at the write leaves
# the change made, so its re-run finds it done and never logs that outcome; to reach outcomes
# too, "audit/+1" passes the re-run's write and kills at the outcome. Twice Ctrl-C inside a
# GitLab call. A spec with no new point left fires at none: the chain then ends (reported).
_ANY, _OUTCOME, _CTRL_C = "KILL@repository/*/+1", "KILL@repository/audit/+1", "INT@repository/http/+1"
PHASE1 = [_ANY, _OUTCOME, _ANY, _ANY, _ANY, _CTRL_C, _ANY, _OUTCOME, _ANY, _CTRL_C, _ANY, _OUTCOME,
          _ANY, _ANY, _ANY, _OUTCOME, _ANY, _ANY, "KILL@after repository/*/+1"]

# Phase 2 (`apply --ref v1.0.0`), in SOP order. Kills inside a playbook cost a restart of
# it, so there are few; most points are where a re-run is cheap.
PHASE2 = [
    "KILL@staging install/audit/+1",         # the install's attempt logged, no playbook yet
    "KILL@staging install/ansible/+12",      # inside the staging playbook (home, release dirs made)
    "KILL@staging install/audit/+1",         # the killed install marked "interrupted" (its row)
    "KILL@staging install/audit/+1",         # the re-run's playbook done, its outcome committed
    "KILL@tests/*/+1",                       # the tests' result recorded
    "KILL@berita acara/document/+1",         # the Berita Acara's files written, not recorded
    "KILL@berita acara/audit/+1",            # its row and event written, not yet committed
    "INT@after berita acara/*/+1",           # Ctrl-C between stages: step 14 marked done
    "KILL@dns/audit/+1",                     # the UPDATE's changes logged as attempted
    "KILL@dns/dns/+1",                       # the UPDATE sent and answered, no read-back
    "KILL@dns/audit/+1",                     # its outcome logged (or the next new point)
    "KILL@hosting/audit/+1",                 # the first hosting change logged as attempted
    "KILL@hosting/audit/+1",                 # the second
    "KILL@hosting/audit/+2",                 # the fourth
    "INT@hosting/ansible/+3",                # Ctrl-C inside the hosting playbook
    "KILL@hosting/ansible/+25",              # inside the hosting playbook (vhost being made)
    "KILL@hosting/audit/+1",                 # the playbook done, its first outcome logged
    "KILL@hosting/audit/+1",                 # the registry row attempted, not yet written
    "KILL@hosting/audit/+1",                 # the registry row written (or its outcome logged)
    "KILL@production install/ansible/+4",    # inside the production playbook (its attempt logged)
    "KILL@production install/audit/+1",      # the killed install marked "interrupted"
    "KILL@production install/audit/+1",      # the re-run's playbook done, its outcome committed
    "KILL@rekomendasi/document/+1",          # the letter's files written, not recorded
    "KILL@rekomendasi/audit/+1",             # its row and event written, not yet committed
    "KILL@after rekomendasi/*/+1",           # step 15 marked done, the run not yet ended
]

STAGES = ["repository", "staging install", "tests", "berita acara", "dns", "hosting",
          "production install", "rekomendasi"]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = new_stack()
    try:
        s.up([REF, CRASH])
    except Exception as e:  # never skip: a stack that cannot start fails the test
        remove(s)
        pytest.fail(f"the sandbox stack could not start: {e}", pytrace=False)
    killable.preload()
    try:
        yield s
    finally:
        remove(s)


def read_trace(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# -- checks after each interruption ---------------------------------------------------------
def audit_events(stack: Stack, rid: str) -> tuple[Any, list[dict[str, Any]], str | None]:
    from sqlalchemy import select

    from provision.audit import event_dict, read_events, verify
    from provision.auditkey import AuditKey, key_file
    from provision.store.models import Run

    store = stack.store()
    try:
        result = verify(store, AuditKey.load(key_file(stack.settings()["general"]["state_dir"], {})))
        events = [event_dict(e) for e in read_events(store, rid)]
        with store.read() as s:
            last = s.execute(select(Run).where(Run.request_id == rid).order_by(Run.started_at.desc())).scalars().first()
        return result, events, (last.id if last else None)
    finally:
        store.engine.dispose()


def ansible_orphans(stack: Stack, slug: str, wait: float = 2.0) -> list[str]:
    """ansible-playbook processes (the guard, the playbook, its workers) of `slug` on this
    stack still alive `wait` s after the run ended. A playbook's environment names the
    stack's state dir (ANSIBLE_LOCAL_TEMP), its command line the application."""
    marker = str(stack.state).encode()
    deadline = time.monotonic() + wait
    while True:
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if "ansible-playbook" not in cmd or slug not in cmd:
                    continue
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                env = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                continue
            if marker in env and state not in ("Z", "X"):
                found.append(f"{pid}: {cmd[:200]}")
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def check_interrupted(stack: Stack, rid: str, slug: str, spec: KillSpec, out: killable.Exited,
                      points: list[dict[str, Any]]) -> list[str]:
    """Problems after one interrupted run (empty when all is well)."""
    problems: list[str] = []
    where = f"{spec} (point {points[-1]['stage']}/{points[-1]['kind']}: {points[-1]['detail']})"
    if spec.signal == "KILL":
        if out.signal != 9:
            problems.append(f"{where}: expected death by SIGKILL, got {out!r}")
    else:
        if out.rc != 10:
            problems.append(f"{where}: Ctrl-C should exit 10, got {out!r}")
        m = re.search(r"interrupted: done so far: (.*?)\.\s", out.stderr)
        if not m:
            problems.append(f"{where}: no 'interrupted: done so far' message: {out.stderr[-800:]}")
        else:
            done = [f"{st} ({status})" for status, st in re.findall(r"^\[(\w+)\] step \d+ (.+?):", out.stdout, re.M)]
            said = m.group(1)
            if said != (", ".join(done) or "nothing"):
                problems.append(f"{where}: the message says {said!r}, the run did {done}")
    result, events, run_id = audit_events(stack, rid)
    if not result.ok:
        problems.append(f"{where}: audit verify failed: {result.as_dict()}")
    mine = [e for e in events if e["run_id"] == run_id]
    answered = {e["ref"] for e in mine if e["ref"] is not None}
    for i, e in enumerate(mine):
        # unanswered is fine only for what was in flight: the kill came before its outcome,
        # and after it the run only wrote attempts and outcomes of the same batch
        later = mine[i + 1:]
        in_flight = all(x["provider"] == e["provider"] and x["outcome"] in ("attempted", "succeeded", "failed")
                        for x in later)
        if e["outcome"] == "attempted" and e["seq"] not in answered and not in_flight:
            problems.append(f"{where}: attempt {e['seq']} {e['action']} {e['target']} has no outcome "
                            "though the run went on")
    # every outside change the run reached was logged as attempted first
    attempted = False
    for p in points:
        if p["kind"] == "audit" and p["detail"].endswith(" attempted"):
            attempted = True
        elif p["kind"] in ("http", "dns", "ansible") and not attempted:
            problems.append(f"{where}: {p['kind']} {p['detail']} happened before any attempted event")
    logged = [f"{e['provider']} {e['action']} {e['target']} {e['outcome']}" for e in mine]
    for p in points:
        if p["kind"] == "audit" and not p["detail"].endswith("(in transaction)") and norm_target(p["detail"]) not in [norm_target(x) for x in logged]:
            problems.append(f"{where}: the event {p['detail']!r} written before the kill is not in the log")
    if spec.signal == "INT" and points[-1]["kind"] == "ansible":
        # Ctrl-C inside a playbook: the playbook cancelled, its change logged as failed with that reason
        if not any(e["outcome"] == "failed" and "cancelled by Ctrl-C" in (e["reason"] or "") for e in mine):
            problems.append(f"{where}: no failed outcome naming the cancelled playbook: "
                            f"{[(e['action'], e['outcome'], e['reason']) for e in mine][-8:]}")
    problems += [f"{where}: ansible-playbook outlived the interrupted run: {o}" for o in ansible_orphans(stack, slug)]
    snap = {"zone": snapshot.zone_part(snapshot.zone_lines(stack), rid, slug),
            "gitlab": snapshot.gitlab_part(stack, rid, slug)}
    problems += [f"{where}: twice: {d}" for d in snapshot.duplicates(snap)]
    return problems


def norm_target(text: str) -> str:
    return " ".join(text.split())


# -- the chain ------------------------------------------------------------------------------
class Chain:
    def __init__(self, stack: Stack, rid: str, slug: str) -> None:
        self.stack, self.rid, self.slug = stack, rid, slug
        self.trace = stack.base / f"trace-{slug}.jsonl"
        self.kills: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.runs = 0

    def seen(self) -> set[str]:
        return {killable.label(p["stage"], p["kind"], p["detail"]) for p in read_trace(self.trace)}

    def run(self, argv: list[str], specs: list[str], phase: str) -> killable.Exited:
        """Run `argv` interrupted at each spec in turn while one fires; then to the end."""
        for text in [*specs, None]:
            spec = KillSpec.parse(text) if text else None
            before = len(read_trace(self.trace))
            t0 = time.monotonic()
            out = killable.run_forked(argv, self.stack.env, spec, str(self.trace), str(self.stack.base / "run"),
                                      seen=self.seen())
            self.runs += 1
            points = read_trace(self.trace)[before:]
            fired = [p for p in points if p.get("signal")]
            if not fired:  # the run reached its end: no new point was left for this spec
                if out.rc != 0:
                    self.problems.append(f"{' '.join(argv)} after the kills failed: {out!r}")
                if text is not None:
                    print(f"  {phase}: {text} did not fire: the run completed ({len(points)} points)")
                return out
            self.kills.append({**fired[-1], "spec": text, "phase": phase, "secs": round(time.monotonic() - t0, 1)})
            self.problems += check_interrupted(self.stack, self.rid, self.slug, spec, out, points)  # type: ignore[arg-type]
        raise AssertionError("unreachable")


def positions(kills: list[dict[str, Any]], reference: list[dict[str, Any]], norm: Any, ref_norm: Any) -> list[float]:
    """Where each kill lies in the reference run (0..1), matched by its stage, kind and detail."""
    labels = [f"{p['stage']}|{p['kind']}|{ref_norm(p['detail'])}" for p in reference]
    out = []
    for k in kills:
        label = f"{k['stage']}|{k['kind']}|{norm(k['detail'])}"
        idx = [i for i, x in enumerate(labels) if x == label]
        if idx:
            out.append(idx[0] / max(1, len(labels) - 1))
    return out


def reference(stack: Stack, ref_trace: Path, rid_file: Path) -> int:
    """The uninterrupted run, in a forked child: returns the child's pid."""
    pid = os.fork()
    if pid:
        return pid
    code = 99
    try:
        rid = stack.open_request(REF)
        rid_file.write_text(rid)
        for args in (["apply", rid, "--until", "11", "--yes"], None, ["apply", rid, "--ref", TAG, "--yes"]):
            if args is None:
                stack.developer_steps(rid)
                continue
            out = killable.run_forked(args, stack.env, None, str(ref_trace), str(stack.base / "ref"))
            if out.rc != 0:
                code = 98
                raise RuntimeError(f"reference {args}: {out!r}")
            if "--until" in args:  # the GitLab group is made: the crash chain may start
                (stack.base / "ref-phase1-done").touch()
        code = 0
    except BaseException:  # noqa: BLE001
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def test_kill_anywhere_then_rerun_ends_as_a_clean_run(stack: Stack) -> None:
    t0 = time.monotonic()
    ref_trace, rid_file = stack.base / f"trace-{REF}.jsonl", stack.base / "ref-rid"
    ref_pid = reference(stack, ref_trace, rid_file)
    crash = stack.open_request(CRASH)
    # the requests share the OPD's GitLab group: the reference makes it, so both runs make
    # the same things (and the two never race for it)
    while not (stack.base / "ref-phase1-done").exists():
        assert os.waitpid(ref_pid, os.WNOHANG) == (0, 0), "the reference run ended before its step 11"
        assert time.monotonic() - t0 < 300, "the reference's step 11 took over 5 minutes"
        time.sleep(0.1)
    chain = Chain(stack, crash, CRASH)
    chain.run(["apply", crash, "--until", "11", "--yes"], PHASE1, "phase 1")
    t1 = time.monotonic()
    stack.developer_steps(crash)
    chain.run(["apply", crash, "--ref", TAG, "--yes"], PHASE2, "phase 2")
    t2 = time.monotonic()
    _, status = os.waitpid(ref_pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, \
        f"the reference run failed (status {status}): " + (stack.base / "ref.err").read_text()[-3000:]
    ref = rid_file.read_text()

    kills = chain.kills
    report = "\n".join(f"  {k['phase']} {k['spec']:38} at {k['stage']}/{k['kind']}: {k['detail']} ({k['secs']} s)"
                       for k in kills)
    by_stage = Counter(f"{k['signal']} {k['stage'] if not k['stage'].startswith('after ') else 'between stages'}"
                       for k in kills)
    print(f"\n{len(kills)} interruptions ({sum(k['signal'] == 'KILL' for k in kills)} SIGKILL, "
          f"{sum(k['signal'] == 'INT' for k in kills)} SIGINT) in {chain.runs} runs; phase 1 {t1 - t0:.0f} s, "
          f"phase 2 {t2 - t1:.0f} s, load average {os.getloadavg()}:\n{report}\n"
          + "\n".join(f"  {n:3} {k}" for k, n in sorted(by_stage.items())))
    assert not chain.problems, "\n".join(chain.problems)
    assert sum(k["signal"] == "KILL" for k in kills) >= 30, report
    assert sum(k["signal"] == "INT" for k in kills) >= 3, report
    for stage in STAGES:
        assert any(k["stage"] == stage for k in kills), f"no interruption in stage {stage}:\n{report}"
    for stage in ("staging install", "hosting", "production install"):
        assert any(k["stage"] == stage and k["kind"] == "ansible" and k["signal"] == "KILL" for k in kills), \
            f"no SIGKILL inside the {stage} playbook:\n{report}"
    assert any(k["stage"] == "hosting" and k["kind"] == "ansible" and k["signal"] == "INT" for k in kills), report
    assert any(k["stage"] == "repository" and k["kind"] == "http" and k["signal"] == "INT" for k in kills), report
    assert any(k["stage"].startswith("after ") and k["signal"] == "INT" for k in kills), report
    for kind in killable.KINDS:
        assert any(k["kind"] == kind for k in kills), f"no kill at a {kind} point:\n{report}"
    spread = positions(kills, read_trace(ref_trace), snapshot.normaliser(crash, CRASH), snapshot.normaliser(ref, REF))
    print(f"  positions in the reference run ({len(spread)} of {len(kills)} matched): "
          + " ".join(f"{x:.2f}" for x in sorted(spread)))
    assert spread and min(spread) < 0.1 and max(spread) > 0.9, spread

    # the final state equals the reference's
    zone = snapshot.zone_lines(stack)
    want, got = snapshot.snapshot(stack, ref, REF, zone), snapshot.snapshot(stack, crash, CRASH, zone)
    assert snapshot.diff(want, got) == [], "\n".join(snapshot.diff(want, got))
    assert snapshot.duplicates(got) == []
    assert "documents berita-acara: 1" in got["state"] and "documents rekomendasi: 1" in got["state"], got["state"]
    assert "hosting records: 1" in got["state"], got["state"]
    assert got["https"] == ["https / -> 200"], got["https"]
    assert any(line.endswith("nginx active") for line in got["server"])
    assert running_installs(stack, crash) == [], "an install of the crash request is still 'running'"
    verify = stack.cli("audit", "verify")
    assert verify.rc == 0, verify
    print(f"  whole test {time.monotonic() - t0:.0f} s")


def running_installs(stack: Stack, rid: str) -> list[int]:
    from sqlalchemy import select

    from provision.store.models import Install

    store = stack.store()
    try:
        with store.read() as s:
            return list(s.execute(select(Install.id).where(Install.request_id == rid,
                                                           Install.status == "running")).scalars())
    finally:
        store.engine.dispose()
