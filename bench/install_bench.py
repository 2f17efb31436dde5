#!/usr/bin/env python3
"""Benchmark: install the sample PHP app on a fresh sandbox server, then the no-change re-run,
with the project's Ansible settings, with Ansible's defaults and with Mitogen, in one run;
and the no-change check `provision install` makes instead of a re-run (the server's fact
file read with one SSH command, issue 20), next to the re-run it replaces.

    sudo -E .venv/bin/python bench/install_bench.py [--rounds N] [--only project,defaults,mitogen]
    sudo -E .venv/bin/python bench/install_bench.py --smoke   # project and defaults, one round (CI)

Each configuration gets its own fresh server (started, measured, stopped: one server at a
time, to keep the load of a shared machine down); the playbook, the app and the server
image are the same. Prints a table and writes JSON with --json FILE. Needs root (sandbox).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from types import SimpleNamespace  # noqa: E402

from devstack.git_server import GitServer  # noqa: E402
from devstack.sandbox import free_port  # noqa: E402
from devstack.sandbox.server import Sandbox  # noqa: E402
from devstack.sandbox.tunnel import Tunnel  # noqa: E402
from provision.install.facts import expected, read_installed  # noqa: E402
from provision.install.inventory import load_inventory  # noqa: E402
from provision.install.runner import AnsibleRunner  # noqa: E402
from provision.install.target import InstallTarget  # noqa: E402

CONFIGS = {
    "project": {"settings": "project", "strategy": "linear"},
    "defaults": {"settings": "defaults", "strategy": "linear"},
    "mitogen": {"settings": "project", "strategy": "mitogen_linear"},
}


def target(host: str, port: int) -> InstallTarget:
    return InstallTarget("REQ-2026-0001", "production", host, "catatan", "catatan", "/srv/apps/catatan", "php",
                         f"git://127.0.0.1:{port}/catatan.git", ["catatan.example.go.id"], 0, spec=None,
                         document_root="public", env_vars={"DB_NAME": "catatan"}, keep_releases=5)


def extravars(host: str, port: int) -> dict[str, object]:
    t = target(host, port)
    return {**t.extravars(ref="v1.0.0"), "app_facts": expected(t, "v1.0.0")}


def measure(sandbox: Sandbox, git: GitServer, name: str, cfg: dict[str, str], state: Path) -> dict[str, float]:
    server = sandbox.start_server(wait_services=True)
    tunnel = Tunnel(server, git.port).start()
    try:
        runner = AnsibleRunner(state / name, str(sandbox.inventory), known_hosts=str(sandbox.known_hosts),
                               settings=cfg["settings"], strategy=cfg["strategy"])  # type: ignore[arg-type]
        out: dict[str, float] = {}
        for label in ("fresh", "rerun"):
            t0 = time.monotonic()
            r = runner.run("install.yml", extravars(server.name, git.port), limit=server.name)
            out[label] = time.monotonic() - t0
            if not r.ok:
                f = r.final_failure()
                raise SystemExit(f"{name} {label}: {r.status}: {f.task if f else ''} {f.message if f else r.stdout_tail}")
            if label == "rerun" and r.changed:
                raise SystemExit(f"{name}: the re-run changed {r.changed} things")
        # What `provision install` does instead of the re-run: read the fact file, compare.
        app = SimpleNamespace(config=SimpleNamespace(hosting=SimpleNamespace(ssh_config="",
                                                                             known_hosts=str(sandbox.known_hosts))))
        t0 = time.monotonic()
        seen = read_installed(app, target(server.name, git.port), "v1.0.0", load_inventory(str(sandbox.inventory)))
        out["nochange"] = time.monotonic() - t0
        if not seen.same:
            raise SystemExit(f"{name}: the no-change check found differences: {seen.reasons}")
        page = server.run(["curl", "-s", "-H", "Host: catatan.example.go.id", "http://127.0.0.1/"]).stdout
        if "Aplikasi Catatan" not in page:
            raise SystemExit(f"{name}: the app is not served: {page[:200]}")
        return out
    finally:
        tunnel.stop()
        sandbox.stop_server(server.name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", default="project,defaults,mitogen")
    ap.add_argument("--json", dest="json_out", default=None)
    ap.add_argument("--smoke", action="store_true", help="the project's settings against Ansible's defaults, once (CI)")
    args = ap.parse_args()
    if args.smoke:
        args.rounds, args.only = 1, "project,defaults"
    names = [n for n in args.only.split(",") if n]
    tmp = Path(tempfile.mkdtemp(prefix="kp-bench-"))
    (tmp / "git" / "work").mkdir(parents=True)
    port = free_port()
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
                               f"--base-path={tmp / 'git'}", "--export-all", str(tmp / "git")],
                              start_new_session=True, stderr=subprocess.DEVNULL)
    git = GitServer(tmp / "git", port, ROOT / "tests" / "apps")
    git.create("php", "catatan")
    sandbox = Sandbox(tmp / "sandbox")
    results: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    try:
        for i in range(args.rounds):
            for n in names:  # interleaved, so a change in the machine's load hits every configuration
                r = measure(sandbox, git, n, CONFIGS[n], tmp / "state")
                results[n].append(r)
                print(f"round {i + 1} {n:9s} fresh {r['fresh']:6.1f} s  re-run {r['rerun']:6.1f} s  "
                      f"no-change check {r['nochange']:5.2f} s", flush=True)
    finally:
        sandbox.stop_all()
        os.killpg(daemon.pid, signal.SIGTERM)
    load = os.getloadavg()[0]
    print(f"\nmedians over {args.rounds} round(s), load average {load:.1f} on {os.cpu_count()} cores")
    summary = {}
    for n in names:
        fresh = statistics.median(r["fresh"] for r in results[n])
        rerun = statistics.median(r["rerun"] for r in results[n])
        nochange = statistics.median(r["nochange"] for r in results[n])
        summary[n] = {"fresh": round(fresh, 1), "rerun": round(rerun, 1), "nochange": round(nochange, 2)}
        print(f"  {n:9s} fresh {fresh:6.1f} s   re-run {rerun:6.1f} s   no-change check {nochange:5.2f} s")
    if "defaults" in summary:
        for n in names:
            if n != "defaults":
                print(f"  {n} vs defaults: fresh x{summary['defaults']['fresh'] / summary[n]['fresh']:.2f}, "
                      f"re-run x{summary['defaults']['rerun'] / summary[n]['rerun']:.2f}")
        print(f"  no-change install (fact file, no playbook) vs the defaults' re-run: "
              f"{summary['defaults']['nochange']:.2f} s vs {summary['defaults']['rerun']:.1f} s "
              f"(target under 2 s: {'met' if summary['defaults']['nochange'] < 2 else 'missed'})")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"rounds": results, "medians": summary, "load": load}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
