"""Run the real `provision` CLI with kill points, for the crash-safety test.

    python -m tests.e2e.killable [--trace FILE] [SIGNAL@STAGE/KIND/N] -- apply REQ --ref v1.0.0 --yes

Nothing in `provision/` knows about this: in this process only, it wraps the places where
an interruption is interesting and counts each pass as a *point*:

- ``audit``: after an audit event is written (between provider calls: every change is
  preceded by its "attempted" event and followed by its outcome);
- ``http``: python-gitlab's HTTP request after it was sent and answered, before the answer
  is processed (inside a GitLab call; writes only: POST, PUT, DELETE);
- ``dns``: after a DNS UPDATE was sent and answered, before its read-back (inside
  the DNS provider);
- ``ansible``: an ansible-runner task-result event (inside a playbook: ansible-playbook is
  running and changing the server);
- ``document``: a document's files written, its record not yet (inside report writing).

Each point is labelled with the pipeline stage it happens in (wrapping the Pipeline's
stages: ``repository``, ``staging install``, ``tests``, ``berita acara``, ``dns``,
``hosting``, ``production install``, ``rekomendasi``; ``after STAGE`` between them) and
appended to the trace file as one JSON line before anything else happens. At the N-th
point matching STAGE/KIND (``*`` matches any), the process sends itself SIGNAL: ``KILL``
(SIGKILL to itself) or ``INT`` (SIGINT to its whole process group, which is what a
terminal's Ctrl-C does). Without a kill spec it only traces (the counting run).

``SIGNAL@STAGE/KIND/+N`` counts only *new* points: those whose label (stage, kind,
detail) no earlier run of the chain passed (``seen``, from the trace). A re-run repeats
what its predecessor did (reads, skipped stages, a playbook from its first task) without
counting it, so each kill lands on work never reached before and the chain advances; a
``+N`` spec whose stage the re-run finds already done fires at the first new point after it.

`run_forked()` does the same from an already-imported test process (fork, no interpreter
start-up: the crash test runs dozens of these).
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KINDS = ("audit", "http", "dns", "ansible", "document")


@dataclass
class KillSpec:
    signal: str  # KILL | INT
    stage: str
    kind: str
    n: int
    new: bool = False  # count only points not passed by an earlier run (`+N`)

    @classmethod
    def parse(cls, text: str) -> KillSpec:
        m = re.fullmatch(r"(KILL|INT)@([^/]+)/([^/]+)/(\+?)(\d+)", text)
        if not m:
            raise ValueError(f"kill spec {text!r}: want SIGNAL@STAGE/KIND/N or /+N, e.g. KILL@dns/audit/2")
        return cls(m.group(1), m.group(2), m.group(3), int(m.group(5)), bool(m.group(4)))

    def __str__(self) -> str:
        return f"{self.signal}@{self.stage}/{self.kind}/{'+' if self.new else ''}{self.n}"

    def matches(self, stage: str, kind: str) -> bool:
        """This point counts for the spec. A `+N` spec whose stage the run has already
        passed (a re-run that found that stage done) counts any point after it instead, so
        a chain of `+N` specs always moves forward."""
        if self.stage in ("*", stage) and self.kind in ("*", kind):
            return True
        return self.new and self.stage != "*" and rank(stage) > rank(self.stage)


STAGE_ORDER = ["start", "repository", "staging install", "tests", "berita acara", "dns", "hosting",
               "production install", "rekomendasi"]


def rank(stage: str) -> int:
    """A stage label's place in a run (``after X`` just after X); unknown labels last."""
    after = stage.startswith("after ")
    base = stage[len("after "):] if after else stage
    return STAGE_ORDER.index(base) * 2 + after if base in STAGE_ORDER else 99


def label(stage: str, kind: str, detail: str) -> str:
    """A point's identity across runs of one request (for `+N` specs)."""
    return f"{stage}|{kind}|{detail}"


class Points:
    def __init__(self, spec: KillSpec | None, trace: str | None, seen: set[str] | None = None) -> None:
        self.spec, self.stage, self.n, self.matched, self.nested = spec, "start", 0, 0, 0
        self.seen = set(seen or ())  # labels earlier runs passed: a `+N` spec counts only others
        self.fd = os.open(trace, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if trace else None

    def _write(self, record: dict[str, Any]) -> None:
        if self.fd is not None:  # one write(2): in the file even if SIGKILL follows at once
            os.write(self.fd, (json.dumps(record) + "\n").encode())

    def hit(self, kind: str, detail: str) -> None:
        self.n += 1
        record = {"n": self.n, "pid": os.getpid(), "stage": self.stage, "kind": kind, "detail": detail}
        fire = False
        key = label(self.stage, kind, detail)
        fresh = key not in self.seen
        self.seen.add(key)
        if self.spec is not None and self.spec.matches(self.stage, kind) and (fresh or not self.spec.new):
            self.matched += 1
            passed = self.spec.new and self.spec.stage != "*" and rank(self.stage) > rank(self.spec.stage)
            fire = self.matched == self.spec.n or passed  # its stage found done: the first new point after
        if fire:
            record["signal"] = self.spec.signal  # type: ignore[union-attr]
        self._write(record)
        if not fire:
            return
        if self.spec.signal == "KILL":  # type: ignore[union-attr]
            os.kill(os.getpid(), signal.SIGKILL)
        else:
            self.spec = None  # one Ctrl-C
            os.killpg(os.getpgrp(), signal.SIGINT)  # delivered before the next bytecode

    def in_stage(self, name: str | Callable[..., str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(fn)
            def inner(*a: Any, **kw: Any) -> Any:
                stage = name(*a, **kw) if callable(name) else name
                outer, self.stage = self.stage, stage
                try:
                    return fn(*a, **kw)
                finally:
                    self.stage = f"after {stage}" if not outer or outer == "start" or outer.startswith("after ") else outer
            return inner
        return wrap


def install(spec: KillSpec | None, trace: str | None, seen: set[str] | None = None) -> Points:
    """Wrap the kill points (in this process only)."""
    import dns.query
    import dns.update
    import requests.adapters

    from provision import audit as audit_mod
    from provision.dns import DnsProvider
    from provision.hosting import HostingProvider
    from provision.install.apptest import AppTester
    from provision.install.runner import AnsibleRunner
    from provision.pipeline import Pipeline
    from provision.reports import berita_acara, pdf, rekomendasi

    pts = Points(spec, trace, seen)

    Pipeline.repository = pts.in_stage("repository")(Pipeline.repository)  # type: ignore[method-assign]
    Pipeline._install = pts.in_stage(lambda self, env: f"{env} install")(Pipeline._install)  # type: ignore[method-assign]
    AppTester.run = pts.in_stage("tests")(AppTester.run)  # type: ignore[method-assign]
    berita_acara.issue = pts.in_stage("berita acara")(berita_acara.issue)
    rekomendasi.issue = pts.in_stage("rekomendasi")(rekomendasi.issue)
    DnsProvider.apply = pts.in_stage("dns")(DnsProvider.apply)  # type: ignore[method-assign]
    HostingProvider.apply = pts.in_stage("hosting")(HostingProvider.apply)  # type: ignore[method-assign]

    append_all = audit_mod.AuditLog.append_all

    def traced_append_all(self: Any, events: list[dict[str, Any]]) -> list[int]:
        pts.nested += 1
        try:
            seqs = append_all(self, events)
        finally:
            pts.nested -= 1
        last = events[-1]
        pts.hit("audit", f"{last['provider']} {last['action']} {last['target']} {last['outcome']}")
        return seqs

    audit_mod.AuditLog.append_all = traced_append_all  # type: ignore[method-assign]

    append_in = getattr(audit_mod.AuditLog, "append_in", None)
    if append_in is not None:  # events inside the caller's transaction: not committed yet
        def traced_append_in(self: Any, s: Any, events: list[dict[str, Any]], *a: Any, **kw: Any) -> Any:
            seqs = append_in(self, s, events, *a, **kw)
            if pts.nested:  # append_all's own transaction: its point comes after the commit
                return seqs
            last = events[-1]
            pts.hit("audit", f"{last['provider']} {last['action']} {last['target']} {last['outcome']} (in transaction)")
            return seqs

        audit_mod.AuditLog.append_in = traced_append_in  # type: ignore[attr-defined]

    send = requests.adapters.HTTPAdapter.send

    def traced_send(self: Any, request: Any, *a: Any, **kw: Any) -> Any:
        response = send(self, request, *a, **kw)
        if request.method not in ("GET", "HEAD") and "/api/v4/" in (request.url or ""):
            path = request.url.split("/api/v4", 1)[1].split("?")[0]
            pts.hit("http", f"{request.method} {path}")
        return response

    requests.adapters.HTTPAdapter.send = traced_send  # type: ignore[method-assign]

    tcp = dns.query.tcp

    def traced_tcp(q: Any, *a: Any, **kw: Any) -> Any:
        response = tcp(q, *a, **kw)
        if isinstance(q, dns.update.UpdateMessage):
            pts.hit("dns", "update " + " ".join(sorted({str(r.name) for r in q.update})))
        return response

    dns.query.tcp = traced_tcp

    on_event = AnsibleRunner._on_event

    def traced_on_event(ev: dict[str, Any], result: Any, cb: Any) -> None:
        on_event(ev, result, cb)
        kind = ev.get("event", "")
        if kind.startswith("runner_on_") and kind != "runner_on_start":
            data = ev.get("event_data") or {}
            status = kind[len("runner_on_"):]
            if status == "ok" and (data.get("res") or {}).get("changed"):
                status = "changed"
            pts.hit("ansible", f"{data.get('task', '')}: {status}")

    AnsibleRunner._on_event = staticmethod(traced_on_event)  # type: ignore[method-assign,assignment]

    html_to_pdf = pdf.html_to_pdf

    def traced_html_to_pdf(html: str, path: Any, *args: Any, **kwargs: Any) -> None:
        html_to_pdf(html, path, *args, **kwargs)
        name = os.path.basename(str(path))  # KIND-NUMBER.pdf
        pts.hit("document", next((k for k in ("berita-acara", "rekomendasi") if name.startswith(k)), name))

    pdf.html_to_pdf = traced_html_to_pdf
    return pts


def run_cli(argv: list[str]) -> int:
    from provision.cli import cli
    from provision.cli.common import run_main

    return run_main(cli, argv)


def preload() -> None:
    """Import what a run needs, so forked runs start at once."""
    import ansible_runner  # noqa: F401
    import gitlab  # noqa: F401

    import provision.cli.applyall  # noqa: F401
    import provision.dns  # noqa: F401
    import provision.gitlab  # noqa: F401
    import provision.hosting  # noqa: F401
    import provision.install.apptest  # noqa: F401
    import provision.install.install  # noqa: F401
    import provision.pipeline  # noqa: F401
    import provision.reports.berita_acara  # noqa: F401
    import provision.reports.pdf  # noqa: F401
    import provision.reports.rekomendasi  # noqa: F401
    from provision.cli import cli

    for name in list(cli.commands):  # the lazily loaded subcommands
        try:
            cli.get_command(None, name)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - a command that cannot load is the run's business
            pass


@dataclass
class Exited:
    rc: int | None  # exit code, or None when killed by a signal
    signal: int | None
    stdout: str
    stderr: str

    def __repr__(self) -> str:
        how = f"exit {self.rc}" if self.signal is None else f"signal {self.signal}"
        return f"<{how}\nstdout: {self.stdout[-2500:]}\nstderr: {self.stderr[-2500:]}>"


def run_forked(argv: list[str], env: dict[str, str], spec: KillSpec | None, trace: str | None,
               out_base: str, timeout: float = 900, seen: set[str] | None = None) -> Exited:
    """Fork, make the child its own process group (a terminal's job), set its
    environment, wrap the kill points, run the CLI; wait for it. Output to out_base.out/.err."""
    import time

    out, err = out_base + ".out", out_base + ".err"
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 70
        try:
            os.setpgid(0, 0)
            fd_out = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            fd_err = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd_out, 1)
            os.dup2(fd_err, 2)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            sys.stdin = open(0, closefd=False)  # noqa: SIM115
            sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.environ.clear()
            os.environ.update(env)
            install(spec, trace, seen)
            code = run_cli(argv)
        except BaseException:  # noqa: BLE001
            import traceback

            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise TimeoutError(f"provision {' '.join(argv)} ran longer than {timeout} s")
        time.sleep(0.05)
    with open(out) as f1, open(err) as f2:
        o, e = f1.read(), f2.read()
    if os.WIFSIGNALED(status):
        return Exited(None, os.WTERMSIG(status), o, e)
    return Exited(os.WEXITSTATUS(status), None, o, e)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    trace = None
    if args[:1] == ["--trace"]:
        trace, args = args[1], args[2:]
    spec = None
    if args and args[0] != "--":
        spec, args = KillSpec.parse(args[0]), args[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    install(spec, trace)
    return run_cli(args)


if __name__ == "__main__":
    sys.exit(main())
