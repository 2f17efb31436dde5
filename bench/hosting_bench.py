#!/usr/bin/env python3
"""Benchmark of `hosting apply` (SOP step 15) on fresh sandbox servers.

    sudo -E .venv/bin/python bench/hosting_bench.py [--apps 10] [--strategy linear|mitogen_linear] [--json FILE]
    sudo -E .venv/bin/python bench/hosting_bench.py --smoke   # 2 apps (CI)

1. one app (PHP + MariaDB + TLS from a local CA) on a fresh server: plan (SSH probe) and
   apply; then the no-change re-run: the plan (nothing to do) and a forced play run
   (`--reconcile`: Ansible reports changed=0);
2. N apps on another fresh server in one run (one play, the apps looped inside it)
   against N separate runs on a third fresh server (one play each).

Each part gets its own fresh server, started and stopped in turn (one at a time, to keep
the load of a shared machine down). Prints a table; --json writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devstack.ca import make_ca  # noqa: E402
from devstack.sandbox.server import Sandbox  # noqa: E402


def setup_env(home: Path, sandbox: Sandbox, strategy: str) -> None:
    ca_cert, ca_key = make_ca(home / "ca")
    (home / "provision.toml").write_text(
        f'[general]\nstate_dir = "{home / "state"}"\n[dns]\nzone = "batam.go.id"\n'
        f'[hosting]\ninventory = "{sandbox.inventory}"\nssh_config = "{sandbox.ssh_config}"\n'
        f'known_hosts = "{sandbox.known_hosts}"\ntls_source = "local-ca"\nlocal_ca_cert = "{ca_cert}"\n'
        f'local_ca_key_file = "{ca_key}"\nstrategy = "{strategy}"\nforks = 10\n')
    for var in [v for v in os.environ if v.startswith("PROVISION_")]:
        del os.environ[var]
    os.environ["PROVISION_CONFIG"] = str(home / "provision.toml")
    os.environ["PROVISION_ACTOR"] = "bench"


def open_requests(app: object, host: str, prefix: str, n: int) -> list[str]:
    import yaml

    ids = []
    for i in range(1, n + 1):
        rid = f"REQ-2026-{prefix}{i:03d}"
        slug = f"app{prefix}{i:03d}"
        app.requests.open(opd_code="bench", opd_name="Dinas Bench", app_name=slug,  # type: ignore[attr-defined]
                          letter_number=f"{i}/BENCH/2026", letter_date=__import__("datetime").date(2026, 11, 2),
                          request_id=rid)
        spec = {"version": 1, "application": {"slug": slug, "name": f"Aplikasi {slug}"},
                "runtime": {"kind": "php", "version": "8.2", "document_root": "public"},
                "hosting": {"host": host, "database": "mariadb", "tls": True}}
        app.specs.set(rid, yaml.safe_dump(spec), "bench")  # type: ignore[attr-defined]
        ids.append(rid)
    return ids


def timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    out = fn()
    return out, time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--apps", type=int, default=10)
    ap.add_argument("--strategy", default="linear", choices=["linear", "mitogen_linear"])
    ap.add_argument("--json", dest="json_out", default=None)
    ap.add_argument("--smoke", action="store_true", help="2 apps: the same comparison, smaller (CI)")
    args = ap.parse_args()
    if args.smoke:
        args.apps = 2
    results: dict[str, float | int | str] = {"strategy": args.strategy, "apps": args.apps}
    from provision.context import App
    from provision.hosting import HostingProvider

    with tempfile.TemporaryDirectory(prefix="hosting-bench-") as tmp:
        home = Path(tmp)
        sandbox = Sandbox(home / "sandbox")
        setup_env(home, sandbox, args.strategy)
        try:
            # 1. one app, fresh server, then the no-change re-run
            server = sandbox.start_server(wait_services=True)
            app = App()
            app.audit.start_run(["bench"], None, None)
            [rid] = open_requests(app, server.name, "1", 1)
            provider = HostingProvider(app)
            plan, results["one_plan_s"] = timed(lambda: provider.plan([rid]))
            report, results["one_apply_s"] = timed(lambda: provider.apply(plan, app.audit))
            results["one_apply_changed"] = report.details["changed"]
            plan2, results["rerun_plan_s"] = timed(lambda: HostingProvider(app).plan([rid]))
            assert plan2.empty, plan2.changes
            rep2, results["rerun_reconcile_s"] = timed(lambda: HostingProvider(app).apply(plan2, app.audit,
                                                                                        reconcile=True))
            results["rerun_changed"] = rep2.details["changed"]
            sandbox.stop_server(server.name)
            # 2. N apps in one run
            server = sandbox.start_server(wait_services=True)
            ids = open_requests(app, server.name, "2", args.apps)
            provider = HostingProvider(app)
            plan, results["many_plan_s"] = timed(lambda: provider.plan(ids))
            report, results["many_one_run_s"] = timed(lambda: provider.apply(plan, app.audit))
            assert report.ok and len(report.details["hosted"]) == args.apps
            sandbox.stop_server(server.name)
            # 3. N apps, one run each
            server = sandbox.start_server(wait_services=True)
            ids = open_requests(app, server.name, "3", args.apps)
            t0 = time.monotonic()
            for rid in ids:
                p = HostingProvider(app)
                rep = p.apply(p.plan([rid]), app.audit)
                assert rep.ok
            results["many_separate_s"] = time.monotonic() - t0
            sandbox.stop_server(server.name)
        finally:
            sandbox.stop_all()
    n = args.apps
    print(f"hosting apply, strategy {args.strategy}")
    print(f"  one app, fresh server:   plan {results['one_plan_s']:.1f} s, apply {results['one_apply_s']:.1f} s "
          f"(Ansible changed={results['one_apply_changed']})")
    print(f"  no-change re-run:        plan {results['rerun_plan_s']:.1f} s (nothing to do), "
          f"--reconcile play {results['rerun_reconcile_s']:.1f} s (changed={results['rerun_changed']})")
    print(f"  {n} apps, one run:        plan {results['many_plan_s']:.1f} s + apply {results['many_one_run_s']:.1f} s")
    print(f"  {n} apps, {n} runs:        {results['many_separate_s']:.1f} s (plan + apply each)")
    print(f"  one run / {n} runs: {float(results['many_one_run_s']) / float(results['many_separate_s']):.2f}x")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
