"""`config check` beyond one key at a time: each command group's keys, and the inventory
as Ansible reads it (unknown host variables, addresses the checks may not probe)."""

from __future__ import annotations

import ipaddress

from provision.config import Config, GroupStatus, check_config, group_status
from provision.errors import Problem, ProvisionError  # noqa: F401 - Problem: the type returned


def check_whole(config: Config) -> tuple[list[Problem], list[GroupStatus], list[str]]:
    """(problems, groups, warnings). A group with none of its keys set is not in use and
    only reported; a partly configured group is a warning naming every missing key (the
    command would stop at the first; `provision doctor` fails it)."""
    problems = check_config(config)
    groups = group_status(config)
    warnings = [f"{g.group}: partly configured: missing {', '.join(g.missing)} (`provision {g.group}` needs them)"
                for g in groups if g.state == "partial"]
    return problems, groups, warnings + inventory_warnings(config)


def inventory_warnings(config: Config) -> list[str]:
    """Unknown host variables (no code reads them) and host addresses outside
    checks.probe_networks (the checks would refuse to probe them)."""
    from provision.checks.targets import host_addresses
    from provision.install.inventory import KNOWN_HOST_VARS, load_inventory

    path = config.settings.hosting.inventory
    if not path:
        return []
    try:
        inventory = load_inventory(path)
    except ProvisionError as e:
        return [f"hosting.inventory: {e.args[0] if e.args else e}"]
    nets = [ipaddress.ip_network(n, strict=False) for n in config.settings.checks.probe_networks]
    shown = ", ".join(config.settings.checks.probe_networks)
    warnings: list[str] = []
    for host in inventory.hosts:
        hv = inventory.hostvars.get(host, {})
        for var in sorted(hv):
            if not var.startswith("ansible_") and var not in KNOWN_HOST_VARS:
                warnings.append(f"inventory host {host}: unknown variable {var} (no code reads it; "
                                f"known: ansible_*, {', '.join(sorted(KNOWN_HOST_VARS))})")
        for addr in host_addresses(hv):
            try:
                ip = ipaddress.ip_address(addr)
            except ValueError:
                warnings.append(f"inventory host {host}: provision_addresses has {addr!r}, not an IP address")
                continue
            if not any(ip in n for n in nets):
                warnings.append(f"inventory host {host}: address {addr} is outside checks.probe_networks ({shown}): "
                                "`provision check` will not probe it; add its network to checks.probe_networks")
    return warnings
