"""`provision test`: check the installed application and record the results.

Four kinds of checks, each a `Check` with kind, name, status (pass, fail, or n/a for a
check that does not apply yet, e.g. TLS before step 15) and a detail:
- smoke: the spec's URLs fetched *on the server* through the vhost (curl with --resolve
  to 127.0.0.1), so the vhost, runtime and app are checked the same way in production and
  in the sandbox, whatever the public network does; TLS when the vhost has it;
- app-test: the app's own test command, run as the app user in the current release
  (fabric), output streamed, exit code recorded;
- infra: testinfra over the same SSH connection: user, ownership and modes, nothing
  world-writable, services running, port listening, nginx -t;
- documents: the step-13 documents present in the release, which is the commit's tree.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from sqlalchemy import select

from provision.audit import utcnow
from provision.install import remote
from provision.reports.messages import Message, msg
from provision.store.models import Install, TestRun

MARK = "__KP_STATUS__"


@dataclass
class Check:
    kind: str  # smoke | tls | app-test | infra | documents
    name: str
    status: str  # pass | fail | n/a
    detail: str = ""
    duration: float = 0.0
    nama: str = ""  # the check in Bahasa Indonesia, for the Berita Acara
    # What the letters are written from (provision/reports/messages.py): the check's
    # name and its remarks as catalogue messages.
    message: Message | None = None
    remarks: list[Message] = field(default_factory=list)

    @classmethod
    def of(cls, kind: str, message: Message, status: str, remarks: list[Message] | None = None,
           detail: str | None = None, duration: float = 0.0) -> Check:
        """A check named by a catalogue message; `detail` (raw output) defaults to the remarks in English."""
        remarks = remarks or []
        return cls(kind, message.en, status, "; ".join(r.en for r in remarks) if detail is None else detail,
                   duration, message.id, message, remarks)

    @property
    def passed(self) -> bool:
        return self.status != "fail"

    def as_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "name": self.name, "nama": self.nama or self.name, "passed": self.passed,
               "status": self.status,
               "detail": self.detail, "duration": round(self.duration, 2)}
        if self.message is not None:
            out["message"] = self.message.as_list()
            out["remarks"] = [r.as_list() for r in self.remarks]
        return out


@dataclass
class TestReport:
    __test__ = False
    request_id: str
    env: str
    host: str
    commit: str | None
    release: str | None
    checks: list[Check] = field(default_factory=list)
    started: dt.datetime = field(default_factory=utcnow)
    test_run_id: int | None = None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def as_dict(self) -> dict[str, Any]:
        return {"request": self.request_id, "env": self.env, "host": self.host, "commit": self.commit,
                "release": self.release, "passed": self.passed, "test_run_id": self.test_run_id,
                "failed": len(self.failed), "total": len(self.checks),
                "checks": [c.as_dict() for c in self.checks]}

    def junit(self) -> str:
        suite = ET.Element("testsuite", name=f"provision test {self.request_id}", tests=str(len(self.checks)),
                           failures=str(len(self.failed)), skipped=str(sum(c.status == "n/a" for c in self.checks)),
                           timestamp=self.started.isoformat(), hostname=self.host)
        for c in self.checks:
            case = ET.SubElement(suite, "testcase", classname=f"{self.request_id}.{c.kind}", name=c.name,
                                 time=f"{c.duration:.3f}")
            if c.status == "fail":
                ET.SubElement(case, "failure", message=c.detail[:500]).text = c.detail
            elif c.status == "n/a":
                ET.SubElement(case, "skipped", message=c.detail[:500])
        return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def _timed(kind: str, message: Message, fn: Callable[[], tuple[str, list[Message]]]) -> Check:
    """Run one check: `fn` gives (status, remarks); an exception fails it, with the reason."""
    t0 = time.monotonic()
    detail = None
    try:
        status, remarks = fn()
    except Exception as e:  # a check that cannot run has failed, with the reason
        detail = f"{type(e).__name__}: {e}"
        status, remarks = "fail", [msg("remark.error", error=detail)]
    return Check.of(kind, message, status, remarks, detail, time.monotonic() - t0)


class AppTester:
    def __init__(self, app: Any, target: Any, inventory: Any) -> None:
        self.app, self.t, self.inventory = app, target, inventory

    def run(self, on_output: remote.Output | None = None) -> TestReport:
        t = self.t
        conn = remote.connect(self.app.config, self.inventory, t.host)
        try:
            link = remote.run(conn, f"readlink {shlex.quote(t.app_root + '/current')}").stdout.strip()
            release = link.rsplit("/", 1)[-1] if link else None
            report = TestReport(t.request_id, t.env, t.host, self._commit(release), release)
            if not release:
                report.checks.append(Check.of("infra", msg("infra.release"), "fail",
                                              [msg("remark.no_release", root=t.app_root)]))
            else:
                report.checks += self._smoke(conn)
                report.checks += self._app_test(conn, on_output)
                report.checks += self._infra(conn)
                report.checks += self._documents(conn)
        finally:
            conn.close()
        self._store(report)
        return report

    def _commit(self, release: str | None) -> str | None:
        if not release:
            return None
        with self.app.store.read() as s:
            return s.execute(select(Install.commit).where(
                Install.request_id == self.t.request_id, Install.commit.startswith(release),
                Install.commit != release).order_by(Install.id.desc()).limit(1)).scalar() or release

    # -- smoke ----------------------------------------------------------------------------
    def _fetch(self, conn: Any, scheme: str, name: str, path: str) -> tuple[int, str]:
        port = 443 if scheme == "https" else 80
        # Staging's self-signed certificate is pinned: curl trusts that one certificate.
        pin = f"--cacert {shlex.quote(self.t.tls_cert)} " if scheme == "https" and self.t.tls_self_signed else ""
        line = (f"curl -sS --max-time 15 {pin}--resolve {shlex.quote(f'{name}:{port}:127.0.0.1')} "
                f"-w '\\n{MARK}%{{http_code}}' {shlex.quote(f'{scheme}://{name}{path}')}")
        r = remote.run(conn, line)
        body, _, code = r.stdout.rpartition(MARK)
        if r.exit_code != 0 and not code.strip().isdigit():
            raise RuntimeError(f"curl exited {r.exit_code}: {r.stderr.strip()[:300]}")
        return int(code.strip() or 0), body[:-1] if body.endswith("\n") else body

    def _smoke(self, conn: Any) -> list[Check]:
        t, spec = self.t, self.t.spec
        name = t.server_names[0]
        # Staging is only served over TLS; production over TLS once step 15 gave it a certificate.
        tls = t.tls_self_signed or (spec.hosting.tls and remote.run(
            conn, f"grep -qs 'listen 443' /etc/nginx/sites-enabled/{shlex.quote(t.instance)}.conf").exit_code == 0)
        scheme = "https" if tls else "http"
        checks = []
        for smoke in spec.tests.smoke:
            def one(smoke: Any = smoke) -> tuple[str, list[Message]]:
                code, body = self._fetch(conn, scheme, name, smoke.path)
                problems = []
                if code != smoke.status:
                    problems.append(msg("remark.http_status_wrong", code=code, expected=smoke.status))
                if smoke.contains and smoke.contains not in body:
                    problems.append(msg("remark.text_missing", text=smoke.contains))
                return ("fail", problems) if problems else ("pass", [msg("remark.http_status", code=code)])
            url = f"{scheme}://{name}{smoke.path}"
            checks.append(_timed("smoke", msg("smoke.page_contains", url=url, status=smoke.status, text=smoke.contains)
                                 if smoke.contains else msg("smoke.page", url=url, status=smoke.status), one))
        if spec.hosting.tls and (not tls or t.tls_self_signed):  # the trusted certificate comes at step 15
            checks.append(Check.of("tls", msg("tls.pending", name=name), "n/a",
                                   [msg("remark.tls_self_signed" if t.tls_self_signed else "remark.tls_later")]))
        elif tls and not t.tls_self_signed:
            checks.append(_timed("tls", msg("tls.verifies", name=name), lambda: (
                "pass", [msg("remark.verified")]) if self._fetch(conn, "https", name, "/")[0]
                else ("fail", [msg("remark.no_answer")])))
        return checks

    # -- the app's own tests --------------------------------------------------------------
    def _app_test(self, conn: Any, on_output: remote.Output | None) -> list[Check]:
        command = self.t.spec.tests.command
        if not command:
            return [Check.of("app-test", msg("apptest.none"), "n/a", [msg("remark.no_test_command")])]
        t0 = time.monotonic()
        r = remote.run(conn, remote.as_app_user(conn, self.t.instance, f"{self.t.app_root}/current", command),
                       on_output)
        tail = (r.stdout + r.stderr).strip()[-1500:]
        status = "pass" if r.exit_code == 0 else "fail"
        return [Check.of("app-test", msg("apptest.command", command=command), status,
                         [msg("remark.exit_code", code=r.exit_code)], f"exit {r.exit_code}\n{tail}".strip(),
                         time.monotonic() - t0)]

    # -- testinfra ------------------------------------------------------------------------
    def _infra(self, conn: Any) -> list[Check]:
        from provision.install.infra import infra_checks

        return infra_checks(conn, self.t)

    # -- step-13 documents ----------------------------------------------------------------
    def _documents(self, conn: Any) -> list[Check]:
        docs = self.t.spec.documents
        base = f"{self.t.app_root}/current"
        wanted = [("installation_guide", docs.installation_guide, "f"), ("user_guide", docs.user_guide, "f"),
                  ("system_requirements", docs.system_requirements, "f"), ("test_documents", docs.test_documents, "d")]
        checks = []
        for key, rel, kind in wanted:
            path = f"{base}/{rel.rstrip('/')}"
            test = f"test -s {shlex.quote(path)}" if kind == "f" else \
                f"test -n \"$(ls -A {shlex.quote(path)} 2>/dev/null)\""
            ok = remote.run(conn, test).exit_code == 0
            checks.append(Check.of("documents", msg(f"documents.{key}", path=rel), "pass" if ok else "fail",
                                   [msg("remark.present" if ok else "remark.missing")]))
        return checks

    def _store(self, report: TestReport) -> None:
        with self.app.store.write() as s:
            row = TestRun(request_id=report.request_id, run_id=self.app.audit.run_id, env=report.env,
                          commit=report.commit, passed=report.passed,
                          results=json.dumps([c.as_dict() for c in report.checks], ensure_ascii=False),
                          created_at=utcnow())
            s.add(row)
            s.flush()
            report.test_run_id = row.id
        self.app.audit.record("test", "run", f"{report.request_id} {report.env} at {(report.commit or '-')[:12]}",
                              request_id=report.request_id,
                              after={"passed": report.passed, "failed": [c.name for c in report.failed],
                                     "total": len(report.checks), "commit": report.commit, "host": report.host})
