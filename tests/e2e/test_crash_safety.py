"""Crash safety of `provision apply` (issue 9, item 3), on the whole sandbox stack.

One stack (tests/e2e/stack.py: `python -m tests.sandbox up` in a temp dir), two requests:

- the reference (`kpref`): steps 11, 14 and 15 applied without interruption, traced by
  tests/e2e/killable.py (every kill point it passes is counted and labelled);
- the crash request (`kpcrash`): the same commands, each run killed at a kill point
  (SIGKILL, or SIGINT to its process group as a terminal's Ctrl-C), then run again, killed
  again further on, and so on until a run completes: a chain, so the whole sequence costs
  about one apply plus the restarts. Most points are in the fast stages (repository,
  documents, DNS); each Ansible stage is killed at least once inside its playbook.

After every kill: the audit chain verifies; every change attempted before the kill is in
the log (each GitLab write, DNS UPDATE and playbook is preceded by its "attempted" event,
and every "attempted" event has an outcome unless it is the last thing the killed run
wrote); no ansible-playbook outlives the killed run; nothing in the zone or on GitLab is
there twice. After a SIGINT: exit 10 and a message naming each stage done so far.
At the end: the crash request's zone records, GitLab project, server files, users,
databases, services, HTTPS answer and state records equal the reference's (names
normalised), nothing twice, one Berita Acara and one Surat Rekomendasi.

The reference's phase 2 runs at the same time as the crash chain's (CI time).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import killable, snapshot
from tests.e2e.killable import KillSpec
from tests.e2e.stack import TAG, Stack, new_stack, remove

pytestmark = [pytest.mark.root, pytest.mark.slow]

REF, CRASH = "kpref", "kpcrash"

# Phase 1 (`apply --until 11`): each GitLab change passes three points (its "attempted"
# event, the write request, its outcome event). Each re-run is killed at the next one:
# before, inside and after every change in turn; every third change is interrupted with
# Ctrl-C inside its GitLab call instead.
PHASE1 = ["KILL@repository/audit/1", "KILL@repository/http/1", "KILL@repository/audit/2",
          "KILL@repository/audit/1", "KILL@repository/http/1", "KILL@repository/audit/2",
          "INT@repository/http/1", "KILL@repository/audit/2"] * 4 + ["KILL@after repository/audit/1"]

# Phase 2 (`apply --ref v1.0.0`), in SOP order; each is the N-th point of its kind in
# that stage of the re-run (stage-relative, so the chain moves forward).
PHASE2 = [
    "KILL@staging install/audit/1",          # the install's attempt logged, no playbook yet
    "KILL@staging install/ansible/22",       # inside the staging playbook (release unpacked)
    "KILL@staging install/audit/2",          # the playbook done, its outcome being logged
    "KILL@tests/*/1",                        # the tests' result recorded
    "KILL@berita acara/document/1",          # the Berita Acara's files written, not recorded
    "KILL@berita acara/audit/1",             # its row and event written, not yet committed
    "KILL@after berita acara/audit/1",       # step 14 marked done
    "KILL@dns/audit/1",                      # the UPDATE's changes logged as attempted
    "KILL@dns/dns/1",                        # the UPDATE sent and answered, no read-back
    "KILL@dns/audit/2",                      # its outcome logged
    "INT@dns/audit/2",                       # Ctrl-C between the DNS outcome and what follows
    "KILL@hosting/audit/1",                  # the hosting attempt logged
    "KILL@hosting/audit/3",                  # some of its changes logged as attempted
    "KILL@hosting/audit/6",                  # all logged as attempted, no playbook yet
    "INT@hosting/ansible/3",                 # Ctrl-C inside the hosting playbook
    "KILL@hosting/ansible/30",               # inside the hosting playbook (vhost being made)
    "KILL@hosting/audit/8",                  # the playbook done, two of its outcomes logged
    "KILL@hosting/audit/12",                 # all outcomes logged, not yet in the registry
    "KILL@production install/audit/1",       # the production attempt logged
    "KILL@production install/ansible/4",     # inside the production playbook
    "KILL@production install/ansible/40",    # late in the production playbook (current switched)
    "INT@production install/audit/2",        # Ctrl-C right after the production outcome
    "KILL@rekomendasi/document/1",           # the letter's files written, not recorded
    "KILL@rekomendasi/audit/1",              # its row and event written, not yet committed
    "KILL@after rekomendasi/audit/1",        # step 15 marked done, the run not yet ended
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
    from provision.store.models import Run

    store = stack.store()
    try:
        result = verify(store)
        events = [event_dict(e) for e in read_events(store, rid)]
        with store.read() as s:
            last = s.execute(select(Run).where(Run.request_id == rid).order_by(Run.started_at.desc())).scalars().first()
        return result, events, (last.id if last else None)
    finally:
        store.engine.dispose()


def ansible_orphans(stack: Stack, slug: str, wait: float = 8.0) -> list[str]:
    """ansible-playbook processes for `slug` on this stack still alive after `wait` s."""
    marker = str(stack.state / "state")
    deadline = time.monotonic() + wait
    while True:
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if "ansible-playbook" in cmd and marker in cmd and slug in cmd and state not in ("Z", "X"):
                found.append(f"{pid}: {cmd[:200]}")
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


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

    def run(self, argv: list[str], specs: list[str]) -> killable.Exited:
        """Run `argv` killed at each spec in turn while the spec is reached; then to the end."""
        for text in [*specs, None]:
            spec = KillSpec.parse(text) if text else None
            before = len(read_trace(self.trace))
            out = killable.run_forked(argv, self.stack.env, spec, str(self.trace), str(self.stack.base / "run"))
            points = read_trace(self.trace)[before:]
            fired = [p for p in points if p.get("signal")]
            if not fired:  # the run reached its end before this kill point
                if out.rc != 0:
                    self.problems.append(f"{' '.join(argv)} after the kills failed: {out!r}")
                if text is not None and specs is PHASE2:
                    tail = "\n".join(f"    {p['stage']}/{p['kind']}: {p['detail']}" for p in points[-12:])
                    self.problems.append(f"{text} was not reached; the run ended (exit {out.rc}) after:\n{tail}")
                return out
            self.kills.append({**fired[-1], "spec": text})
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


def test_kill_anywhere_then_rerun_ends_as_a_clean_run(stack: Stack) -> None:
    t0 = time.monotonic()
    ref, crash = stack.open_request(REF), stack.open_request(CRASH)
    ref_trace = stack.base / f"trace-{REF}.jsonl"

    def ref_run(*args: str) -> killable.Exited:
        out = killable.run_forked(list(args), stack.env, None, str(ref_trace), str(stack.base / "ref"))
        assert out.rc == 0, out
        return out

    # phase 1: step 11
    ref_run("apply", ref, "--until", "11", "--yes")
    chain = Chain(stack, crash, CRASH)
    chain.run(["apply", crash, "--until", "11", "--yes"], PHASE1)
    stack.developer_steps(ref)
    stack.developer_steps(crash)

    # phase 2: steps 14 and 15; the reference in a forked child at the same time
    ref_pid = os.fork()
    if ref_pid == 0:
        out = killable.run_forked(["apply", ref, "--ref", TAG, "--yes"], stack.env, None, str(ref_trace),
                                  str(stack.base / "ref"))
        os._exit(out.rc if out.rc is not None else 99)
    chain.run(["apply", crash, "--ref", TAG, "--yes"], PHASE2)
    _, status = os.waitpid(ref_pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (stack.base / "ref.err").read_text()[-3000:]

    # every kill point fired and was checked
    fired = [k["spec"] for k in chain.kills]
    report = "\n".join(f"  {k['spec']:40} at {k['stage']}/{k['kind']}: {k['detail']}" for k in chain.kills)
    print(f"\n{len(chain.kills)} interruptions in {time.monotonic() - t0:.0f} s:\n{report}")
    assert not chain.problems, "\n".join(chain.problems)
    assert all(s in fired for s in PHASE2), f"kill points not reached: {sorted(set(PHASE2) - set(fired))}\n{report}"
    assert len([k for k in chain.kills if k['signal'] == 'KILL']) >= 30, report
    for stage in STAGES:
        assert any(k["stage"] == stage for k in chain.kills), f"no kill in stage {stage}:\n{report}"
    for stage in ("staging install", "hosting", "production install"):
        assert any(k["stage"] == stage and k["kind"] == "ansible" for k in chain.kills), f"no kill inside the {stage} playbook"
    for kind in killable.KINDS:
        assert any(k["kind"] == kind for k in chain.kills), f"no kill at a {kind} point"
    reference = [p for p in read_trace(ref_trace)]
    spread = positions(chain.kills, reference, snapshot.normaliser(crash, CRASH), snapshot.normaliser(ref, REF))
    assert len(spread) >= 0.8 * len(chain.kills) and min(spread) < 0.1 and max(spread) > 0.9, spread

    # the final state equals the reference's
    zone = snapshot.zone_lines(stack)
    want, got = snapshot.snapshot(stack, ref, REF, zone), snapshot.snapshot(stack, crash, CRASH, zone)
    assert snapshot.diff(want, got) == [], "\n".join(snapshot.diff(want, got))
    assert snapshot.duplicates(got) == []
    assert "documents berita-acara: 1" in got["state"] and "documents rekomendasi: 1" in got["state"], got["state"]
    assert got["https"] == ["https / -> 200"], got["https"]
    assert any(line.endswith("nginx active") for line in got["server"])
    verify = stack.cli("audit", "verify")
    assert verify.rc == 0, verify
