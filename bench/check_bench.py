"""Benchmark: `provision check` over 200 hosted applications on the sandbox, against the
same checks run one after another.

    sudo python bench/check_bench.py [--apps 200] [--servers 4] [--runs 3] [--only dns,http,tls,host,gitlab]
    sudo python bench/check_bench.py --smoke   # 6 apps on 1 server, one run (CI)

Set up (not timed): sandbox servers (several applications each: user, home, document root,
nginx vhost with its own certificate from a throwaway CA, a php-fpm pool for every fifth),
a BIND primary + secondary holding every application's A record and ownership record, the
GitLab emulator with every project made by the GitLab provider itself, and the hosting
registry, requests and specs in a fresh state store.

Timed, median of --runs:
- `python cli.py check --json` as a new process (interpreter start, configuration,
  registry, inventory, every check, storing results and audit events): cold (first run,
  inventory read through Ansible) and warm (inventory cached);
- the same command at concurrency 8 and 16, without GitLab, GitLab alone, and with
  concurrency 1: the same checks one after another, in the same process set-up.
Results must be identical (check, request, name, status, message) between all runs.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.ca import CA  # noqa: E402
from devstack.sandbox.hosting import PHP_LOCATION, POOL, VHOST  # noqa: E402
from devstack.toml import toml_value  # noqa: E402

ZONE = "batam.test."
PY = sys.executable


def server_script(apps: list[dict], ca: CA) -> str:
    """One shell script laying out every application of one server (one nsenter call)."""
    out = ["set -e"]
    for a in apps:
        slug, home = a["slug"], f"/srv/apps/{a['slug']}"
        root = f"{home}/current"
        cert, key = ca.leaf([a["domain"]], 90)
        php = PHP_LOCATION.format(slug=slug) if a["kind"] == "php" else ""
        out += [f"useradd --system --home-dir {home} --shell /usr/sbin/nologin --user-group {slug}",
                f"mkdir -p {root} /etc/ssl/kominfo",
                f"echo '<h1>Halo dari {slug}</h1>' > {root}/index.html",
                f"cat > /etc/ssl/kominfo/{slug}.crt <<'PEM'\n{cert.decode()}PEM",
                f"cat > /etc/ssl/kominfo/{slug}.key <<'PEM'\n{key.decode()}PEM",
                f"chmod 600 /etc/ssl/kominfo/{slug}.key",
                f"cat > /etc/nginx/sites-available/{slug}.conf <<'CONF'\n"
                f"{VHOST.format(domain=a['domain'], root=root, slug=slug, php=php)}CONF",
                f"ln -sf /etc/nginx/sites-available/{slug}.conf /etc/nginx/sites-enabled/{slug}.conf"]
        if a["kind"] == "php":
            out += [f"echo \"<?php echo 'Halo dari {slug}';\" > {root}/index.php",
                    f"cat > /etc/php/8.2/fpm/pool.d/{slug}.conf <<'CONF'\n{POOL.format(slug=slug)}CONF"]
        if a["db"] == "mariadb":
            out.append(f"mysql -e 'CREATE DATABASE IF NOT EXISTS {slug}'")
        out += [f"chown -R {slug}:www-data {home}", f"chmod 0750 {home} {root}"]
    out.append("nginx -t 2>/dev/null && systemctl restart nginx && systemctl restart php8.2-fpm")
    return "\n".join(out) + "\n"


def spec_text(a: dict, server: str) -> str:
    import yaml

    runtime = {"kind": a["kind"], **({"version": "8.2"} if a["kind"] == "php" else {})}
    return yaml.safe_dump({
        "version": 1, "application": {"slug": a["slug"], "name": f"Aplikasi {a['slug']}"},
        "repository": {"members": [{"username": "budi.dev", "role": "developer"}]},
        "runtime": runtime, "hosting": {"host": server, "database": a["db"] or "none"},
        "dns": {"records": [{"name": a["slug"], "type": "A", "values": [a["address"]]}]},
        "tests": {"smoke": [{"path": "/", "status": 200, "contains": f"Halo dari {a['slug']}"}]}})


def setup(args: argparse.Namespace, work: Path) -> tuple[dict, list, object]:
    from devstack.gitlab_emulator import GitLabEmulator
    from devstack.sandbox.bind import BindPair
    from devstack.sandbox.server import Sandbox

    t0 = time.monotonic()
    sandbox = Sandbox(work / "sandbox")
    names = [f"bench{i + 1}" for i in range(args.servers)]
    servers = sandbox.start_servers(names, wait_services=True)
    print(f"  {len(servers)} servers up in {time.monotonic() - t0:.0f} s", flush=True)
    apps = []
    for i in range(args.apps):
        s = i % args.servers
        slug = f"app{i:03d}"
        apps.append({"slug": slug, "domain": f"{slug}.batam.test", "server": names[s],
                     "address": f"127.0.0.{11 + s}", "kind": "php" if i % 5 == 0 else "static",
                     "db": "mariadb" if i % 10 == 0 else None})
    ca = CA.new()
    (work / "ca.pem").write_bytes(ca.pem)

    def lay(server: object) -> None:
        mine = [a for a in apps if a["server"] == server.name]  # type: ignore[attr-defined]
        server.run(server_script(mine, ca), timeout=600)  # type: ignore[attr-defined]
        server.wait_services(("nginx", "php8.2-fpm"))  # type: ignore[attr-defined]

    with ThreadPoolExecutor(len(servers)) as pool:
        list(pool.map(lay, servers))
    # The sandbox's socat forwarder starts two processes per connection; at hundreds of
    # concurrent checks that is what would be measured: relay in-process instead.
    from devstack.sandbox.forward import NetnsForwarder

    forwarders = [NetnsForwarder(s.netns, p) for s in servers for p in (80, 443)]
    ports = {s.name: (forwarders[2 * i].port, forwarders[2 * i + 1].port) for i, s in enumerate(servers)}
    print(f"  {len(apps)} applications laid out in {time.monotonic() - t0:.0f} s", flush=True)
    # The "web servers" the A records point at: one listener per server address.
    probe = socket.socket()
    probe.bind(("127.0.0.11", 0))
    probe.listen(256)
    probe_port = probe.getsockname()[1]
    listeners = [probe]
    for s in range(1, args.servers):
        ls = socket.socket()
        ls.bind((f"127.0.0.{11 + s}", probe_port))
        ls.listen(256)
        listeners.append(ls)
    records = []
    for n, a in enumerate(apps):
        rid = f"REQ-2026-{n + 1:04d}"
        a["rid"] = rid
        records += [f"{a['slug']} 3600 IN A {a['address']}",
                    f'_provision-owner.{a["slug"]} 300 IN TXT "kominfo-provision request={rid} '
                    f'types=A opd=Dinas Pendidikan"']
    bind = BindPair(zone=ZONE, records=records).start()
    gitlab = GitLabEmulator(work / "gitlab", ssh=False).start()
    gitlab.create_user("provisioner")
    token = gitlab.create_token("provisioner", ["api"])
    gitlab.create_user("budi.dev")
    gitlab.create_group("pemko-batam", owner="provisioner")
    inv = work / "inventory.yml"
    inv.write_text("all:\n  hosts:\n" + "".join(
        f"    {s.name}:\n      ansible_host: {s.name}\n      ansible_user: root\n"
        f"      ansible_ssh_common_args: -F {sandbox.ssh_config}\n      provision_addresses: ['127.0.0.{11 + i}']\n"
        for i, s in enumerate(servers)))
    connect = {}
    for name, (p80, p443) in ports.items():
        connect[f"{name}:80"], connect[f"{name}:443"] = f"127.0.0.1:{p80}", f"127.0.0.1:{p443}"
    cfg = {"general": {"state_dir": str(work / "state")},
           "dns": {"zone": ZONE, "primary": bind.primary_addr, "tsig_key_file": str(bind.client_key_file),
                   "verify_servers": bind.servers, "timeout": 5.0, "allow_private_addresses": True},
           "gitlab": {"url": gitlab.url, "root_group": "pemko-batam", "max_retries": 1, "timeout": 10},
           "hosting": {"inventory": str(inv)},
           "checks": {"connect_to": connect, "ca_bundle": str(work / "ca.pem"), "probe_ports": [probe_port],
                      "probe_timeout": 1.0, "timeout": 15.0, "concurrency": args.concurrency}}
    cfg_file = work / "provision.toml"
    cfg_file.write_text("".join(f"[{k}]\n" + "".join(f"{x} = {toml_value(y)}\n" for x, y in v.items()) + "\n"
                                for k, v in cfg.items()))
    os.environ.update({"PROVISION_CONFIG": str(cfg_file), "PROVISION_GITLAB_TOKEN": token,
                       "PROVISION_ACTOR": "bench"})
    register(apps)
    print(f"  registry, specs, zone and {len(apps)} GitLab projects ready in {time.monotonic() - t0:.0f} s", flush=True)
    return {"sandbox": sandbox, "bind": bind, "gitlab": gitlab, "listeners": listeners,
            "forwarders": forwarders}, apps, cfg_file


def register(apps: list[dict]) -> None:
    import datetime as dt

    from provision.context import App
    from provision.gitlab import GitLabProvider
    from provision.store.models import Hosting

    app = App()
    for a in apps:
        req = app.requests.open(opd_code="disdik", opd_name="Dinas Pendidikan", app_name=f"Aplikasi {a['slug']}",
                                letter_number="005/DISDIK/2026", letter_date=dt.date(2026, 11, 2))
        assert req.id == a["rid"], (req.id, a["rid"])
        app.specs.set(req.id, spec_text(a, a["server"]), "bench")
    now = dt.datetime.now(dt.UTC)
    with app.store.write() as s:
        for a in apps:
            s.add(Hosting(request_id=a["rid"], host=a["server"], domain=a["domain"], runtime=a["kind"],
                          database=a["db"], status="active", created_at=now, updated_at=now))
    provider = GitLabProvider.from_config(app.config)

    class Quiet:
        def attempt(self, *a: object) -> int:
            return 0

        def succeeded(self, *a: object, **k: object) -> None:
            pass

        def failed(self, *a: object) -> None:
            pass

    def make(a: dict) -> None:
        req = app.requests.get(a["rid"])
        spec = app.specs.get(a["rid"])
        provider.apply(provider.plan(req, spec), Quiet())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(make, apps))


def cli_run(*extra: str, concurrency: int | None = None) -> tuple[float, dict]:
    env = dict(os.environ)
    if concurrency is not None:
        env["PROVISION_CHECKS_CONCURRENCY"] = str(concurrency)
    start = time.monotonic()
    p = subprocess.run([PY, str(ROOT / "cli.py"), "check", "--json", *extra], capture_output=True, text=True,
                       timeout=1200, env=env)
    elapsed = time.monotonic() - start
    if p.returncode not in (0, 3) or not p.stdout:
        raise SystemExit(f"provision check failed (exit {p.returncode}): {p.stderr[-2000:]}")
    return elapsed, json.loads(p.stdout)


def keys(results: list) -> list:
    return sorted((r["check"], r["request"] or "", r["name"], r["status"], r["message"]) if isinstance(r, dict)
                  else r.key() for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--apps", type=int, default=200)
    ap.add_argument("--servers", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--smoke", action="store_true", help="6 apps on one server, one run (CI)")
    args = ap.parse_args()
    if args.smoke:
        args.apps, args.servers, args.runs = 6, 1, 1
    if os.geteuid() != 0:
        raise SystemExit("the sandbox servers need root: run with sudo")
    work = Path(tempfile.mkdtemp(prefix="kp-check-bench-"))
    print(f"setting up {args.apps} applications on {args.servers} servers in {work}", flush=True)
    parts: dict = {}
    try:
        parts, apps, _ = setup(args, work)
        cold, first = cli_run()
        warm_times, runs = [], [first]
        for _ in range(args.runs):
            t, data = cli_run()
            warm_times.append(t)
            runs.append(data)
        others = {}
        for c in (8, 16):
            others[c] = cli_run(concurrency=c)
            runs.append(others[c][1])
        without_gitlab, _ = cli_run("--only", "dns,http,tls,host")
        only_gitlab, _ = cli_run("--only", "gitlab")
        seq, seq_data = cli_run(concurrency=1)  # the same command, one check at a time
        runs.append(seq_data)
        base = keys(first["results"])
        same = all(keys(r["results"]) == base for r in runs)
        warm = statistics.median(warm_times)
        last = runs[args.runs]
        counts = first["counts"]
        by = first["by_check"]

        def phase(d: dict) -> str:
            return f"set-up {d['setup_seconds']:5.2f}s, checks {d['seconds'] - d['setup_seconds']:6.2f}s"

        print()
        print(f"{'provision check (new process each)':44} {'wall':>8}   inside the process")
        print(f"{'cold: inventory read through Ansible':44} {cold:7.2f}s   {phase(first)}")
        print(f"{f'warm, concurrency {args.concurrency} (median of {args.runs})':44} {warm:7.2f}s   {phase(last)}")
        for c, (t, d) in others.items():
            print(f"{f'warm, concurrency {c}':44} {t:7.2f}s   {phase(d)}")
        print(f"{'--only dns,http,tls,host':44} {without_gitlab:7.2f}s")
        print(f"{'--only gitlab (against the emulator)':44} {only_gitlab:7.2f}s")
        print(f"{'one after another (concurrency 1)':44} {seq:7.2f}s   {phase(seq_data)}")
        seq_checks = seq_data["seconds"] - seq_data["setup_seconds"]
        warm_checks = last["seconds"] - last["setup_seconds"]
        print(f"speed-up: whole command {seq / warm:.1f}x, checks phase {seq_checks / warm_checks:.1f}x")
        print(f"results: {len(first['results'])} ({counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail); "
              f"identical across all {len(runs)} runs: {same}")
        print("per check: " + ", ".join(f"{k} {sum(v.values())}" for k, v in by.items()))
        prof: dict = {}
        for r in last["results"]:  # a unit's results share its duration: count each once
            key = (r["duration"],) if r["check"] in ("dns", "host") else (r["request"], r["duration"])
            prof.setdefault(r["check"], {})[key] = r["duration"]
        print("unit time in the last warm run: " + ", ".join(
            f"{k} {len(v)} units, sum {sum(v.values()):.1f}s, max {max(v.values()):.2f}s" for k, v in prof.items()))
        bad = [r for r in first["results"] if r["status"] != "pass"][:10]
        for r in bad:
            print(f"  {r['status']} {r['check']} {r['request']} {r['name']}: {r['message']}")
        if not same or not first["results"] or not (seq > 0 and warm > 0):
            raise SystemExit("the runs disagree or measured nothing: the comparison does not hold")
    finally:
        for ls in parts.get("listeners", []) + parts.get("forwarders", []):
            ls.close()
        if parts.get("gitlab"):
            parts["gitlab"].stop()
        if parts.get("bind"):
            parts["bind"].stop()
        if parts.get("sandbox"):
            parts["sandbox"].stop_all()


if __name__ == "__main__":
    main()
