"""Notifications to the operators' channels, through apprise (one URL per target:
mailto://, tgram://, mmost://, slack://, json://... see apprise's documentation).

What is sent (each only when `notify.urls` is configured; the URLs hold credentials, so
they are a secret: PROVISION_NOTIFY_URLS or `notify.urls_file`, 0600, one URL a line):
- `provision check` with a failure or a warning: one message per run;
- `provision request remind`: the SOP steps past their due date, one message per
  request, each step at most once a calendar day (a `notify remind` event in the audit
  log says it was sent);
- a failed `provision apply` or `provision install` under CI (CI=true).

Texts are in Bahasa Indonesia unless `notify.language = "en"`. Every text goes through the
redactor before it leaves. A notification that cannot be sent never fails the command
that sent it: the caller gets `Sent.error` to show as a warning.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from provision.checks.results import Summary, sort_results
from provision.secrets import REDACTOR

MAX_LINES = 25  # problems listed in one message; the rest are counted

TEXT = {
    "id": {
        "checks_title": "Pemeriksaan infrastruktur: {fail} gagal, {warn} peringatan",
        "checks_body": "Dari {n} pemeriksaan oleh kominfo-provision, {fail} gagal dan {warn} memberi peringatan.",
        "fail": "GAGAL", "warn": "PERINGATAN",
        "more": "... dan {n} lainnya (`provision check history --failures`).",
        "overdue_title": "Langkah SOP terlambat: {rid}",
        "overdue_body": "Permohonan {rid} ({app}, {opd}) memiliki langkah yang melewati batas waktu:",
        "overdue_step": "Langkah {n}: {title} (batas {due}, terlambat {days} hari)",
        "apply_title": "Gagal: provision {command} {rid}",
        "apply_body": "Perintah `provision {command}` untuk permohonan {rid} gagal (kode keluar {code}):\n{message}",
    },
    "en": {
        "checks_title": "Infrastructure check: {fail} failed, {warn} warnings",
        "checks_body": "Of {n} checks by kominfo-provision, {fail} failed and {warn} warned.",
        "fail": "FAILED", "warn": "WARNING",
        "more": "... and {n} more (`provision check history --failures`).",
        "overdue_title": "SOP step overdue: {rid}",
        "overdue_body": "Request {rid} ({app}, {opd}) has steps past their due date:",
        "overdue_step": "Step {n}: {title} (due {due}, {days} days late)",
        "apply_title": "Failed: provision {command} {rid}",
        "apply_body": "`provision {command}` for request {rid} failed (exit code {code}):\n{message}",
    },
}


@dataclass
class Sent:
    """What a notification did: `sent` when every target accepted it."""

    sent: bool = False
    error: str | None = None
    messages: int = 0
    skipped: list[str] = field(default_factory=list)


def _urls(app: Any) -> list[str]:
    raw = app.config.secret("notify", "urls") or ""
    return [u.strip() for u in raw.replace(",", "\n").splitlines() if u.strip() and not u.strip().startswith("#")]


def _text(app: Any) -> dict[str, str]:
    return TEXT.get(app.config.settings.notify.language, TEXT["id"])


def send(app: Any, title: str, body: str, failure: bool = True) -> Sent:
    """Send one message to every configured target; never raises for a target that fails."""
    urls = _urls(app)
    if not urls:
        return Sent()
    import apprise

    for url in urls:
        REDACTOR.add(url)  # a URL holds its service's credentials
    a = apprise.Apprise()
    bad = [i + 1 for i, u in enumerate(urls) if not a.add(u)]
    if bad:
        return Sent(error=f"notify.urls: URL number {', '.join(map(str, bad))} is not one apprise knows")
    ok = a.notify(title=REDACTOR.text(title), body=REDACTOR.text(body),
                  notify_type=apprise.NotifyType.FAILURE if failure else apprise.NotifyType.WARNING)
    return Sent(sent=bool(ok), error=None if ok else "a notification target refused the message or did not answer",
                messages=1)


def notify_checks(app: Any, summary: Summary) -> Sent:
    """One message for a check run with failures or warnings (none for a clean run)."""
    c = summary.counts
    if not (c["fail"] or c["warn"]) or not _urls(app):
        return Sent()
    t = _text(app)
    problems = [r for r in sort_results(summary.results) if r.status != "pass"]
    problems.sort(key=lambda r: r.status != "fail")
    lines = [f"{t[r.status]} {r.check} {r.request or '-'} {r.name}: {r.message}" for r in problems[:MAX_LINES]]
    if len(problems) > MAX_LINES:
        lines.append(t["more"].format(n=len(problems) - MAX_LINES))
    body = t["checks_body"].format(n=len(summary.results), fail=c["fail"], warn=c["warn"]) + "\n\n" + "\n".join(lines)
    return send(app, t["checks_title"].format(fail=c["fail"], warn=c["warn"]), body, failure=bool(c["fail"]))


def notify_failed_run(app: Any, command: str, request_id: str, code: int, message: str) -> Sent:
    t = _text(app)
    return send(app, t["apply_title"].format(command=command, rid=request_id),
                t["apply_body"].format(command=command, rid=request_id, code=code, message=message))


@dataclass
class Reminder:
    request_id: str
    application: str
    opd: str
    steps: list[tuple[int, str, dt.date]]  # (number, title, due)


def overdue_reminders(app: Any, today: dt.date) -> list[Reminder]:
    """Open requests with steps past their due date, without the steps already reminded
    today (a `notify remind` event of today's date in the audit log)."""
    from provision.audit import read_events

    language = app.config.settings.notify.language
    since = dt.datetime.combine(today, dt.time(0), tzinfo=dt.UTC) - dt.timedelta(days=1)
    done = {(e.request_id, e.target) for e in read_events(app.store, since=since)
            if e.provider == "notify" and e.action == "remind" and (e.after or "").find(today.isoformat()) >= 0}
    out = []
    for row in app.requests.list(status="open", overdue=True):
        shown = app.requests.show(row["id"])
        steps = []
        for st in shown["steps"]:
            # The step being worked on (and any started out of order): later steps' due
            # dates are projections, late only because this one is.
            current = st["number"] == shown["current_step"] or st["status"] == "started"
            if not st["overdue"] or not current or (row["id"], f"step {st['number']}") in done:
                continue
            sop_step = app.sop.step(st["number"])
            title = sop_step.title_id if language == "id" else sop_step.title_en
            steps.append((st["number"], title, dt.date.fromisoformat(st["due"])))
        if steps:
            out.append(Reminder(row["id"], shown["application"], shown["opd_name"], steps))
    return out


def send_reminders(app: Any, reminders: list[Reminder], today: dt.date) -> Sent:
    """One message per request; each reminded step is recorded (provider notify, action
    remind) only when the message was accepted, so a failed send is tried again."""
    t = _text(app)
    total = Sent(sent=True)
    for r in reminders:
        lines = [t["overdue_step"].format(n=n, title=title, due=due.isoformat(), days=(today - due).days)
                 for n, title, due in r.steps]
        res = send(app, t["overdue_title"].format(rid=r.request_id),
                   t["overdue_body"].format(rid=r.request_id, app=r.application, opd=r.opd) + "\n" + "\n".join(lines),
                   failure=False)
        if not res.sent:
            total.sent, total.error = False, res.error
            total.skipped.append(r.request_id)
            continue
        total.messages += 1
        for n, _, due in r.steps:
            app.audit.record("notify", "remind", f"step {n}", request_id=r.request_id,
                             after={"date": today.isoformat(), "due": due.isoformat()})
    return total
