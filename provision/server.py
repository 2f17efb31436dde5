"""The baseline of an application server (`provision server prepare`, docs/servers.md).

What a host needs comes from the inventory (`baseline`): nginx, certbot with its RFC 2136
plugin, git, acl, sudo, unattended security upgrades, nftables (22/80/443 in), time
synchronisation (systemd-timesyncd), the deploy identity, php-fpm for each of the host's
`php_versions`, and MariaDB and/or PostgreSQL with their Python drivers for its
`db_engines`. The plan reads each host over SSH (one round trip: which packages are
installed, whether the deploy identity and the managed files exist); apply runs
playbooks/prepare.yml through the project's AnsibleRunner, one run for every host,
each change recorded as attempted before the run and its outcome after.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from provision.errors import ConfigError, ProvisionError, Unreachable
from provision.install.access import ServerAccess
from provision.names import DEPLOY_HOME, DEPLOY_USER
from provision.placement import DEFAULT_PHP
from provision.plan import ApplyReport, Change, Plan
from provision.provider import Outcome, Provider

PROVIDER = "server"
ENGINES = ("mariadb", "postgresql")
COMMON = ("nginx", "certbot", "python3-certbot-dns-rfc2136", "git", "acl", "sudo", "python3-apt",
          "unattended-upgrades", "nftables", "systemd-timesyncd")
#: The files the role writes, and a line each must hold once written.
FILES = {"/etc/nftables.conf": "Managed by kominfo-provision",
         "/etc/apt/apt.conf.d/20auto-upgrades": "Managed by kominfo-provision"}


class PrepareFailed(ProvisionError):
    """The baseline play failed on a host; what it installed stays (installing is idempotent)."""


def _list(hv: dict[str, Any], key: str, host: str, default: list[str]) -> list[str]:
    value = hv.get(key, default)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise ConfigError(f"inventory host {host}: {key} must be a list (got {value!r}).",
                          "See inventory/production.example.")
    return [str(v) for v in value]


def baseline(host: str, hostvars: dict[str, Any], groups: dict[str, list[str]]) -> dict[str, Any]:
    """What `host` needs, from its inventory variables. `php_versions` defaults to [DEFAULT_PHP]
    for hosts of the `web` group, `db_engines` to both engines for the `database` group.
    Raises ConfigError naming the variable."""
    web = host in groups.get("web", [])
    database = host in groups.get("database", [])
    php = _list(hostvars, "provision_php_versions", host, [DEFAULT_PHP] if web else [])
    engines = _list(hostvars, "provision_db_engines", host, list(ENGINES) if database else [])
    ntp = _list(hostvars, "provision_ntp_servers", host, [])
    for v in php:
        if not re.fullmatch(r"[0-9]+\.[0-9]+", v):
            raise ConfigError(f"inventory host {host}: provision_php_versions has {v!r}, not a version like \"8.2\".")
    for e in engines:
        if e not in ENGINES:
            raise ConfigError(f"inventory host {host}: provision_db_engines has {e!r}; known: mariadb, postgresql.")
    for n in ntp:
        if not re.fullmatch(r"[A-Za-z0-9.:-]+", n):
            raise ConfigError(f"inventory host {host}: provision_ntp_servers has {n!r}, not a host name or address.")
    packages = list(COMMON) + [f"php{v}-fpm" for v in php]
    if "mariadb" in engines:
        packages += [f"php{v}-mysql" for v in php] + ["mariadb-server", "python3-pymysql"]
    if "postgresql" in engines:
        packages += [f"php{v}-pgsql" for v in php] + ["postgresql", "python3-psycopg2"]
    return {"host": host, "php_versions": php, "db_engines": engines, "ntp_servers": ntp, "packages": packages}


PROBE = r'''
import json, os, pwd, subprocess, sys
P = json.loads(sys.stdin.readline())
r = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n"] + P["packages"],
                   capture_output=True, text=True)
installed = sorted(l.split()[0] for l in r.stdout.splitlines() if l.endswith(" installed"))
try:
    pwd.getpwnam(P["user"]); user = True
except KeyError:
    user = False
files = {}
for path, mark in P["files"].items():
    try:
        files[path] = mark in open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        files[path] = False
sys.stdout.write(json.dumps({"installed": installed, "user": user, "files": files}))
'''


def probe(host: str, connection: dict[str, Any], want: dict[str, Any], ssh_config: str, known_hosts: str,
          timeout: float = 60) -> dict[str, Any]:
    """What `host` has of its baseline. Raises Unreachable / AuthError (host key) / ProvisionError."""
    from provision.remote import run_python

    return dict(run_python(host, connection, PROBE, {"packages": want["packages"], "user": DEPLOY_USER,
                                                     "files": FILES}, "the baseline", ssh_config, known_hosts,
                           timeout, "The server needs python3 and dpkg (any Debian 12). Nothing was changed."))


def plan_host(want: dict[str, Any], have: dict[str, Any]) -> list[Change]:
    """The changes that bring one host to its baseline (none when it has it)."""
    host = want["host"]
    missing = [p for p in want["packages"] if p not in have["installed"]]
    changes = []
    if missing:
        changes.append(Change("create", "server.packages", f"{host}: {', '.join(missing)}", None,
                              {"install": missing}, host))
    if not have["user"]:
        changes.append(Change("create", "server.deploy_user", f"{host}: {DEPLOY_USER}", None,
                              {"user": DEPLOY_USER, "home": DEPLOY_HOME}, host))
    for path, ok in sorted(have["files"].items()):
        if not ok:
            changes.append(Change("update", "server.file", f"{host}: {path}", None, {"path": path}, host))
    return changes


class ServerProvider(ServerAccess, Provider):
    """Plan and apply the baseline of inventory hosts (docs/servers.md)."""

    name = PROVIDER

    def hosts(self, host: str | None, every: bool) -> list[str]:
        """The hosts named (one, checked against the inventory) or all of them."""
        if every:
            if not self.inventory.hosts:
                raise ConfigError(f"the inventory {self.inventory.path} has no hosts.")
            return list(self.inventory.hosts)
        assert host is not None
        self.inventory.require(host, where="HOST")
        return [host]

    def plan(self, hosts: list[str]) -> Plan:
        """Read every host (inventory variables checked first) and compare with its baseline."""
        from concurrent.futures import ThreadPoolExecutor

        wants = {h: baseline(h, self.inventory.hostvars.get(h, {}), self.inventory.groups) for h in hosts}

        def one(h: str) -> dict[str, Any]:
            return probe(h, self.inventory.connection(h), wants[h], self.cfg.ssh_config, self.cfg.known_hosts)

        with ThreadPoolExecutor(max_workers=min(self.cfg.forks, len(hosts)) or 1) as pool:
            haves = dict(zip(hosts, pool.map(one, hosts)))
        plan = Plan(PROVIDER, ",".join(hosts), existing=len(hosts),
                    meta={"hosts": hosts, "baseline": {h: {k: v for k, v in w.items() if k != "host"}
                                                       for h, w in wants.items()}})
        for h in hosts:
            plan.changes += plan_host(wants[h], haves[h])
        plan.data["wants"] = wants
        return plan

    def _play(self, plan: Plan, on_event: Callable[[Any], None] | None) -> Any:
        wants = plan.data["wants"]
        return self.runner.run("prepare.yml", {
            "prepare_hosts": sorted(wants), "deploy_user": DEPLOY_USER, "deploy_home": DEPLOY_HOME,
            "prepare_items": [{k: w[k] for k in ("host", "php_versions", "db_engines", "ntp_servers")}
                              for w in wants.values()]}, on_event=on_event)

    def _start(self, plan: Plan, report: ApplyReport, **options: Any) -> Any:
        return {**options, "plan": plan, "report": report}

    def _batches(self, plan: Plan, run: Any) -> Iterator[list[Change]]:
        yield list(plan.changes)  # one play for every host

    def _apply_batch(self, batch: list[Change], run: Any) -> Outcome:
        result = self._play(run["plan"], run.get("on_event"))
        run["result"] = result
        prepared = result.stats.get("prepared", {}) or {}
        out = Outcome()
        for c in batch:
            if c.data in prepared:
                out.done.append((c, {"ansible_changed": result.hosts[c.data].changed
                                     if c.data in result.hosts else None}))
            else:
                f = result.final_failure(c.data)
                out.failed.append((c, f"task '{f.task}': {f.message}" if f else "not reached"))
        return out

    def _finish(self, report: ApplyReport, run: Any, stop: ProvisionError | None) -> ApplyReport:
        result = run.get("result")
        if result is not None:
            report.details = {"changed": result.changed, "duration": round(result.duration, 1),
                              "hosts": {h: r.as_dict() for h, r in result.hosts.items()}}
            if not result.ok:
                f = result.final_failure()
                message = f.message if f else " ".join(result.stdout_tail.split())[-500:] or result.status
                host = f.host if f else ",".join(run["plan"].meta["hosts"])
                if f and f.unreachable:
                    e: ProvisionError = Unreachable(f"{host} is unreachable: {message}",
                                                    "Check that the server is up, then run again.")
                else:
                    e = PrepareFailed(f"preparing {host} failed: {message}",
                                      "Fix the cause (often the server's apt sources) and run again: "
                                      "what was installed stays and is not installed twice.")
                e.report = report  # type: ignore[attr-defined]
                raise e
        return report

    def apply(self, plan: Plan, audit: Any, on_event: Callable[[Any], None] | None = None,  # type: ignore[override]
              reconcile: bool = False) -> ApplyReport:
        """Apply a plan from `plan()`. With `reconcile`, run the play even when the plan is
        empty (repairs drift the probe cannot see: service states, file contents)."""
        if plan.empty and reconcile:
            report = ApplyReport(plan)
            run = {"plan": plan, "report": report, "result": self._play(plan, on_event)}
            if run["result"].changed:
                audit.record(PROVIDER, "reconcile", ",".join(plan.meta["hosts"]),
                             after={"ansible_changed": run["result"].changed})
            return self._finish(report, run, None)
        return super().apply(plan, audit, on_event=on_event)


__all__ = ["PROVIDER", "PrepareFailed", "ServerProvider", "baseline", "plan_host", "probe"]
