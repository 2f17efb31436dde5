"""`python -m devstack.sandbox up|down|status`: the local stack for people (root, Debian 12).

    sudo python -m devstack.sandbox up            # builds the root filesystem once, starts kominfo1
    sudo python -m devstack.sandbox up --servers 3
    sudo python -m devstack.sandbox status [--json]
    sudo python -m devstack.sandbox down

State (client key, ssh_config, known_hosts, inventory, provision.toml) lives in
<checkout>/.sandbox, or $KOMINFO_SANDBOX_DIR. `up` is idempotent: servers already running
are kept, missing ones started. It also starts the BIND pair of devstack/sandbox/bind.py
(zone batam.test) and the GitLab emulator (devstack/sandbox/gitlab_stack.py), and writes
their [dns] and [gitlab] sections. With `--tls acme` (the default) it also starts an ACME
CA, pebble (devstack/sandbox/pebble.py), validating at the first server's port-80
forwarder and resolving through the sandbox BIND, and configures the production path
(`tls_source = "acme"`); `--tls local-ca` signs certificates with the sandbox's local CA
instead. Everything outlives this command until `down`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from devstack.sandbox import SandboxError, bind, gitlab_stack, pebble
from devstack.sandbox.rootfs import prune_old_trees
from devstack.sandbox.server import SERVICES, Sandbox, Server, clean_orphans, load_records

CHECKOUT = Path(__file__).resolve().parents[2]


def default_state_dir() -> Path:
    import os

    return Path(os.environ.get("KOMINFO_SANDBOX_DIR") or CHECKOUT / ".sandbox")


def provision_toml(sb: Sandbox, hosting_extra: str = "") -> str:
    """The toolkit's configuration pointing at this sandbox (other sandbox parts add their sections)."""
    state = sb.state_dir
    return (
        "# Written by `python -m devstack.sandbox up`: the toolkit configured against the sandbox.\n"
        "# Use it with: PROVISION_CONFIG=" + str(state / "provision.toml") + " python cli.py ...\n\n"
        "[general]\n"
        f'state_dir = "{state / "state"}"\n\n'
        "[database]\n"
        f'url = "sqlite:///{state / "state" / "state.db"}"\n\n'
        "[hosting]\n"
        f'inventory = "{CHECKOUT / "inventory" / "sandbox"}"\n'
        f'ssh_config = "{sb.ssh_config}"\n'
        f'known_hosts = "{sb.known_hosts}"\n'
        + hosting_extra
    )


def _describe(server: Server) -> dict[str, object]:
    states = server.run(["systemctl", "is-active", *SERVICES], check=False).stdout.split() if server.alive else []
    forwards = {p: int((server.dir / f"forward-{p}").read_text()) for p in (server.record.forwards or {})
                if (server.dir / f"forward-{p}").exists()}
    return {"name": server.name, "netns": server.netns, "alive": server.alive,
            "services": dict(zip(SERVICES, states)), "forwards": forwards}


#: The demo application's names: the sandbox's ACME key may set their _acme-challenge TXT records.
ACME_NAMES = ["sisekolah.batam.test"]


def cmd_up(state: Path, servers: int, tls: str = "acme") -> int:
    sb = Sandbox(state, persistent=True)
    wanted = [f"kominfo{i}" for i in range(1, servers + 1)]
    missing = [n for n in wanted if n not in sb.servers]
    bind_was_up = (state / "bind.json").exists()
    gitlab_was_up = (state / "gitlab.json").exists()
    pebble_was_up = (state / "pebble.json").exists()
    # What this call starts is undone if a later part fails: nothing is left half-started.
    try:
        state.mkdir(parents=True, exist_ok=True)
        dns = bind.sandbox_up(state, acme_names=ACME_NAMES)
        gitlab = gitlab_stack.gitlab_up(state)
        if missing:
            print(f"starting {', '.join(missing)} (the first run builds the root filesystem: a few minutes)")
            sb.start_servers(missing, wait_services=True)
        else:
            print(f"already up: {', '.join(wanted)}")
        sb.write_client_files()
        for name in wanted:
            for port in (80, 443):
                sb.servers[name].forward(port)
        gitlab_stack.tunnels_up(state, [sb.servers[n] for n in wanted], gitlab)
        acme = pebble.sandbox_up(state, str(dns["primary"]), sb.servers[wanted[0]]) if tls == "acme" else None
    except BaseException:
        for name in missing:
            if name in sb.servers:
                sb.stop_server(name)
        if not bind_was_up:
            bind.sandbox_down(state)
        if not gitlab_was_up:
            gitlab_stack.gitlab_down(state)
        if not pebble_was_up:
            pebble.sandbox_down(state)
        raise
    (state / "state").mkdir(exist_ok=True)
    hosting_extra = gitlab_stack.hosting_keys(state, gitlab) + (
        pebble.acme_toml(acme, str(dns["acme_key_file"])) if acme else 'tls_source = "local-ca"\n')
    (state / "provision.toml").write_text(provision_toml(sb, hosting_extra) + "\n" + bind.dns_toml(dns) + "\n"
                                          + gitlab_stack.gitlab_toml(gitlab))
    print_usage(sb, dns)
    return 0


def _dns_info(state: Path) -> dict[str, object] | None:
    try:
        return json.loads((state / "bind.json").read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _pebble_info(state: Path) -> dict[str, object] | None:
    try:
        return json.loads((state / "pebble.json").read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def print_usage(sb: Sandbox, dns: dict[str, object] | None) -> None:
    rel = sb.state_dir.relative_to(CHECKOUT) if sb.state_dir.is_relative_to(CHECKOUT) else sb.state_dir
    print(f"\nSandbox up in {rel}:")
    for s in sorted(sb.servers.values(), key=lambda s: s.name):
        d = _describe(s)
        fw = ", ".join(f"http{'s' if p == '443' else ''}://127.0.0.1:{lp}/ -> {s.name}:{p}"
                       for p, lp in d["forwards"].items())  # type: ignore[union-attr]
        print(f"  {s.name:10} services {' '.join(f'{k}={v}' for k, v in d['services'].items())}")  # type: ignore[union-attr]
        print(f"  {'':10} {fw}")
    if dns:
        print(f"  {'BIND':10} zone {dns['zone']} primary {dns['primary']} secondary {dns['secondary']} "
              f"(TSIG key {dns['key_file']})")
    acme = _pebble_info(sb.state_dir)
    if acme:
        print(f"  {'ACME CA':10} pebble {acme['directory']} (in {acme['server']}: {acme['inside_directory']}); "
              f"it signs with {acme['root']}")
    first = min(sb.servers) if sb.servers else "kominfo1"
    host, _, port = str(dns["primary"]).rpartition(":") if dns else ("127.0.0.1", "", "53")
    custom = sb.state_dir != default_state_dir().resolve()
    env = f"KOMINFO_SANDBOX_DIR={sb.state_dir} " if custom else ""
    down = f"python -m devstack.sandbox --state-dir {sb.state_dir} down" if custom else "python -m devstack.sandbox down"
    print(f"""
Use it:
  ssh -F {rel}/ssh_config {first}
  {env}ansible -i inventory/sandbox kominfo -m ping
  dig @{host} -p {port} {str(dns['zone']) if dns else 'batam.test.'} SOA
  PROVISION_CONFIG={rel}/provision.toml python cli.py config show
Stop it:
  {down}""")


def cmd_status(state: Path, as_json: bool) -> int:
    sb = Sandbox(state, persistent=True)
    info = [_describe(s) for s in sorted(sb.servers.values(), key=lambda s: s.name)]
    if as_json:
        print(json.dumps({"state_dir": str(sb.state_dir), "servers": info, "bind": _dns_info(state)}, indent=2))
    elif not info:
        print(f"no sandbox servers running for {sb.state_dir} (start: python -m devstack.sandbox up)")
    else:
        print_usage(sb, _dns_info(state))
    return 0 if all(i["alive"] for i in info) else 3


def cmd_down(state: Path) -> int:
    sb = Sandbox(state, persistent=True)
    names = sorted(sb.servers)
    sb.stop_all()
    if (state / "bind.json").exists():
        names.append("BIND")
    bind.sandbox_down(state)
    if pebble.sandbox_down(state):
        names.append("ACME CA (pebble)")
    if gitlab_stack.gitlab_down(state):
        names.append("GitLab emulator")
    cleaned = clean_orphans()
    (state / "provision.toml").unlink(missing_ok=True)
    print(f"stopped: {', '.join(names) or 'nothing was running'}"
          + (f"; cleaned leftovers: {', '.join(cleaned)}" if cleaned else ""))
    if not load_records():  # no server anywhere reads an old tree: drop them
        for tree in prune_old_trees():
            print(f"removed old root filesystem {tree}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.sandbox", description=__doc__.split("\n")[0])
    parser.add_argument("--state-dir", type=Path, default=None, help="default: <checkout>/.sandbox")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the sandbox servers (idempotent)")
    up.add_argument("--servers", type=int, default=1, help="how many Kominfo servers (default 1)")
    up.add_argument("--tls", choices=["acme", "local-ca"], default="acme",
                    help="certificates from the sandbox's ACME CA, pebble (default), or from its local CA")
    st = sub.add_parser("status", help="what runs; exit 3 if a server died")
    st.add_argument("--json", action="store_true")
    sub.add_parser("down", help="stop everything and clean leftovers")
    args = parser.parse_args(argv)
    state = (args.state_dir or default_state_dir()).resolve()
    try:
        if args.command == "up":
            if not 1 <= args.servers <= 20:
                parser.error("--servers must be between 1 and 20")
            return cmd_up(state, args.servers, args.tls)
        if args.command == "status":
            return cmd_status(state, args.json)
        return cmd_down(state)
    except SandboxError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: run `python -m devstack.sandbox down` to clean up", file=sys.stderr)
        return 10


if __name__ == "__main__":
    sys.exit(main())
