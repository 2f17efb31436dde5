"""An install whose run died (SIGKILL, a lost machine) leaves its row "running" and its
attempt without an outcome. The next install of the request, which holds the request's
lock, marks such rows "interrupted" with an audit event; its own row is left alone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.helpers import run_cli


def test_a_dead_run_s_install_is_marked_interrupted(provision_home: Path) -> None:
    from sqlalchemy import select

    from provision.audit import event_dict, read_events, verify
    from provision.context import App
    from provision.install.install import Installer
    from provision.store.models import Install

    r = run_cli("request", "open", "--opd-code", "disdik", "--opd-name", "Dinas Pendidikan", "--app", "Aplikasi A",
                "--letter-number", "005/A/2026", "--letter-date", "2026-11-02", "--id", "REQ-2026-0001")
    assert r.exit_code == 0, r
    now = dt.datetime.now(dt.UTC)
    app = App()
    with app.store.write() as s:  # a dead run's row, a finished one, another request's running one
        s.add(Install(request_id="REQ-2026-0001", run_id="dead-run", env="staging", ref="v1.0.0",
                      status="running", started_at=now))
        s.add(Install(request_id="REQ-2026-0001", run_id="old-run", env="staging", ref="v0.9.0",
                      status="succeeded", started_at=now, ended_at=now))
        s.add(Install(request_id="REQ-2026-0002", run_id="other", env="staging", ref="v1.0.0",
                      status="running", started_at=now))
    app.audit.start_run(["install", "REQ-2026-0001"], "REQ-2026-0001", None)
    with app.store.write() as s:  # this run's own row (as _run writes it) is not stale
        s.add(Install(request_id="REQ-2026-0001", run_id=app.audit.run_id, env="production", ref="v1.0.0",
                      status="running", started_at=now))
    installer = Installer(app, runner=object())  # type: ignore[arg-type]
    closed = installer.close_stale("REQ-2026-0001")
    assert closed == [1]
    with app.store.read() as s:
        rows = {(i.request_id, i.run_id): i for i in s.execute(select(Install)).scalars()}
    assert rows[("REQ-2026-0001", "dead-run")].status == "interrupted"
    assert rows[("REQ-2026-0001", "dead-run")].ended_at is not None
    assert rows[("REQ-2026-0001", "old-run")].status == "succeeded"
    assert rows[("REQ-2026-0002", "other")].status == "running"
    assert rows[("REQ-2026-0001", app.audit.run_id)].status == "running"
    events = [event_dict(e) for e in read_events(app.store, "REQ-2026-0001") if e.provider == "install"]
    assert [(e["action"], e["outcome"], e["target"]) for e in events] == [
        ("install.interrupted", "recorded", "REQ-2026-0001 staging install #1")]
    assert events[0]["before"] == {"status": "running", "run": "dead-run"}
    assert installer.close_stale("REQ-2026-0001") == []  # once
    assert verify(app.store, app.audit.key).ok
    log = run_cli("audit", "log", "REQ-2026-0001")
    assert log.exit_code == 0 and "install.interrupted" in log.stdout, log
