"""The Ansible inventory: read once with `ansible-inventory --list`, hosts validated.

Any inventory Ansible reads works (INI, YAML, a directory, a dynamic script); we ask
Ansible itself rather than parse it, so what we validate is what the playbook will see.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provision.errors import ConfigError, NotFound

#: Host variables the toolkit reads besides Ansible's own `ansible_*` (inventory/production.example):
#: provision_addresses (checks/targets.py: the addresses DNS records may point at),
#: provision_php_versions and provision_db_engines (doctor.py, server.py: the packages a server needs),
#: provision_ntp_servers (server.py: time servers).
KNOWN_HOST_VARS = frozenset({"provision_addresses", "provision_php_versions", "provision_db_engines",
                             "provision_ntp_servers"})


@dataclass
class Inventory:
    path: str
    hostvars: dict[str, dict[str, Any]]
    groups: dict[str, list[str]]

    @property
    def hosts(self) -> list[str]:
        return sorted(self.hostvars)

    def require(self, host: str, where: str = "hosting.host") -> dict[str, Any]:
        """The host's variables; NotFound (exit 2) naming the inventory and its hosts."""
        if host not in self.hostvars:
            known = ", ".join(self.hosts[:20]) or "none"
            raise NotFound(f"{where}: the host {host!r} is not in the inventory {self.path} (hosts: {known}).",
                           "Add it to the inventory, or correct the spec with `provision spec set`.")
        return self.hostvars[host]

    def connection(self, host: str) -> dict[str, Any]:
        """How to reach a host over SSH: hostname, port, user and an ssh_config named by -F."""
        hv = self.require(host)
        common = str(hv.get("ansible_ssh_common_args", "")) + " " + str(hv.get("ansible_ssh_extra_args", ""))
        words = shlex.split(common)
        ssh_config = ""
        for i, w in enumerate(words):
            if w == "-F" and i + 1 < len(words):
                ssh_config = words[i + 1]
        return {"hostname": str(hv.get("ansible_host", host)), "port": int(hv.get("ansible_port", 22)),
                "user": str(hv.get("ansible_user", "root")), "ssh_config": ssh_config}


def load_inventory(path: str) -> Inventory:
    """Read the inventory through Ansible. Raises ConfigError when unset or unreadable."""
    if not path:
        raise ConfigError("hosting.inventory is not set.",
                          "Set it in provision.toml (see inventory/production.example) or PROVISION_HOSTING_INVENTORY.")
    p = Path(path).expanduser()
    if not p.exists():
        raise ConfigError(f"hosting.inventory: {p} does not exist.")
    exe = Path(sys.executable).parent / "ansible-inventory"
    env = {**os.environ, "PATH": f"{exe.parent}:{os.environ.get('PATH', '')}", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False"}
    try:
        proc = subprocess.run([str(exe) if exe.exists() else "ansible-inventory", "-i", str(p.resolve()), "--list"],
                              capture_output=True, text=True, timeout=60, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ConfigError(f"cannot read the inventory {p}: {e}.") from e
    if proc.returncode != 0:
        raise ConfigError(f"cannot read the inventory {p}: {proc.stderr.strip()[-500:]}.")
    try:
        data = json.loads(proc.stdout)
    except ValueError as e:
        raise ConfigError(f"the inventory {p} gave no JSON: {e}.") from e
    hostvars: dict[str, dict[str, Any]] = dict(data.get("_meta", {}).get("hostvars", {}))
    groups: dict[str, list[str]] = {}
    for name, body in data.items():
        if name != "_meta" and isinstance(body, dict):
            groups[name] = list(body.get("hosts", []))
            for h in groups[name]:
                hostvars.setdefault(h, {})
    return Inventory(str(p), hostvars, groups)
