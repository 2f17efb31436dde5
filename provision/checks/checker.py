"""`run_checks`: build the units of the checks asked for, run them, store and log results.

    summary = run_checks(app, only=["dns", "tls"], request_id=None)
    summary.results        # [Result, ...]; summary.ok is False when any failed

Every run stores each result (`check_results`, with the run's id) and logs each failure
against its request in the audit log (provider "check", outcome "failed"). A request
with no active hosting row is not checked.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select

from provision.checks.guard import AddressGuard
from provision.checks.results import KINDS, Result, Summary, failed, warned
from provision.checks.runner import Unit, run_units
from provision.checks.targets import AppTarget, Endpoints, Inventory, load_check_inventory, load_targets
from provision.errors import NothingToCheck, ProvisionError, UsageError
from provision.store.models import CheckResult


def parse_only(text: str | None) -> list[str]:
    if not text:
        return list(KINDS)
    kinds = [k.strip().lower() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise UsageError(f"--only: unknown check {', '.join(bad) or '(none)'}; choose from {', '.join(KINDS)}.")
    return list(dict.fromkeys(kinds))


@dataclass
class Plan:
    """The units of one run (built once, so the benchmark can run them twice)."""

    targets: list[AppTarget]
    units: list[Unit] = field(default_factory=list)
    setup: list[Result] = field(default_factory=list)  # failures found while building units


def build(app: Any, only: Iterable[str], request_id: str | None = None,
          inventory: Inventory | None = None) -> Plan:
    cfg = app.config
    c = cfg.checks
    kinds = list(only)
    targets = load_targets(app, request_id)
    plan = Plan(targets)
    guard = AddressGuard(c.probe_networks)
    if inventory is None and any(k in kinds for k in ("dns", "http", "tls", "host")):
        try:
            inventory = load_check_inventory(cfg)
        except ProvisionError as e:
            plan.setup.append(failed("host", None, "inventory", str(e)))
            inventory = Inventory()
    inventory = inventory or Inventory()
    endpoints = Endpoints(c.connect_to, inventory, guard)
    for kind in kinds:
        try:
            if kind == "dns":
                if not cfg.dns.zone:
                    plan.setup.append(warned("dns", None, "zone", "dns.zone is not set: DNS not checked"))
                    continue
                from provision.checks.dns import DnsChecks
                from provision.checks.targets import active_request_ids

                active = active_request_ids(app) if request_id else None
                plan.units += DnsChecks(cfg, targets, inventory, guard, active=active).units()
            elif kind == "http":
                from provision.checks.http import http_units

                plan.units += http_units(targets, endpoints, c.timeout)
            elif kind == "tls":
                from provision.checks.tls import tls_units

                plan.units += tls_units(targets, endpoints, c.ca_bundle, c.tls_warn_days, c.tls_fail_days, c.timeout)
            elif kind == "host":
                from provision.checks.host import host_units

                plan.units += host_units(targets, inventory, cfg)
            elif kind == "gitlab":
                if not cfg.gitlab.url:
                    plan.setup.append(warned("gitlab", None, "GitLab", "gitlab.url is not set: GitLab not checked"))
                    continue
                from provision.checks.gitlab import gitlab_units

                plan.units += gitlab_units(app, targets, c.timeout)
        except ProvisionError as e:
            plan.setup += [failed(kind, t.request_id, "setup", str(e)) for t in targets] or [
                failed(kind, None, "setup", str(e))]
    return plan


# Long units first (one per host, per DNS server): they overlap the many short ones
# instead of starting when those are done.
START_ORDER = {"host": 0, "dns": 1, "gitlab": 2, "tls": 3, "http": 4}


def execute(plan: Plan, concurrency: int) -> Summary:
    start = time.monotonic()
    units = sorted(plan.units, key=lambda u: START_ORDER.get(u.kind, 9))
    results = plan.setup + run_units(units, concurrency)
    return Summary(results, time.monotonic() - start)


def _store_shown(url: str) -> str:
    """The state store's URL without its credentials (a password may be in it)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True).replace("***", "…")
    except Exception:  # noqa: BLE001 - a URL the store itself would refuse: show only its scheme
        return url.split(":", 1)[0] + ":…"


def run_checks(app: Any, only: Iterable[str] | None = None, request_id: str | None = None,
               store: bool = True, allow_empty: bool = False) -> Summary:
    """Run the checks; store the results and log the failures (unless `store` is False).

    A full run that finds no hosted application raises NothingToCheck (unless
    `allow_empty`): a nightly check reading an empty or wrong state store must not pass.
    """
    start = time.monotonic()
    plan = build(app, only or KINDS, request_id)
    if not plan.targets and request_id is None and not allow_empty:
        raise NothingToCheck(
            f"No hosted application is registered in the state store ({_store_shown(app.config.database_url)}): "
            "nothing to check.",
            "Check that this user reads the state the operators write (PROVISION_CONFIG, general.state_dir or "
            "database.url; `provision config show`). On a new installation with no application yet, "
            "add --allow-empty.")
    setup = time.monotonic() - start
    summary = execute(plan, app.config.checks.concurrency)
    if request_id:  # zone-wide findings and other requests' records belong to a full run
        summary = Summary([r for r in summary.results if r.request == request_id])
    summary.seconds, summary.setup_seconds = time.monotonic() - start, setup
    if store:
        record(app, summary.results)
    return summary


def record(app: Any, results: list[Result]) -> None:
    now = dt.datetime.now(dt.UTC)
    run_id = app.audit.run_id
    rows = [{"run_id": run_id, "request_id": r.request, "check": r.check, "name": r.name, "status": r.status,
             "message": r.message, "duration": r.duration, "created_at": now} for r in results]
    with app.store.write() as s:
        if rows:
            s.execute(insert(CheckResult), rows)  # one executemany, not an ORM object per row
        # Retention: a nightly run over 200 applications stores ~3,000 rows.
        s.execute(delete(CheckResult).where(
            CheckResult.created_at < now - dt.timedelta(days=app.config.checks.keep_days)))
    for r in results:
        if r.status == "fail":
            app.audit.append("check", r.check, f"{r.check} {r.name}", outcome="failed", reason=r.message,
                             request_id=r.request)


def history(app: Any, request_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Stored results, newest first."""
    q = select(CheckResult).order_by(CheckResult.created_at.desc(), CheckResult.id.desc()).limit(limit)
    if request_id:
        app.requests.get(request_id)
        q = q.where(CheckResult.request_id == request_id)
    with app.store.read() as s:
        return [{"at": r.created_at.isoformat(timespec="seconds") if r.created_at else None, "run_id": r.run_id,
                 "check": r.check, "request": r.request_id, "name": r.name, "status": r.status,
                 "message": r.message, "duration": r.duration} for r in s.execute(q).scalars()]
