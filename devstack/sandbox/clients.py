"""SSH clients for a sandbox server with its host key pinned (paramiko, fabric, testinfra).

OpenSSH and Ansible honour the ssh_config the sandbox writes, pins included. The Python
clients do not all do so on their own: fabric auto-adds unknown host keys and testinfra's
paramiko backend only warns, neither reads UserKnownHostsFile. These helpers read the same
ssh_config (ProxyCommand into the namespace) and reject any key but the pinned one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import fabric
    import paramiko

    from devstack.sandbox.server import Server


def _lookup(server: Server) -> dict[str, Any]:
    import paramiko

    return paramiko.SSHConfig.from_path(str(server.ssh_config)).lookup(server.name)


def pinned_client(server: Server) -> paramiko.SSHClient:
    """A new paramiko SSHClient that accepts only the host keys in the sandbox's known_hosts."""
    import paramiko

    client = paramiko.SSHClient()
    client.load_host_keys(_lookup(server)["userknownhostsfile"])
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def ssh_client(server: Server, timeout: float = 15) -> paramiko.SSHClient:
    """A connected paramiko SSHClient as root, through the server's ProxyCommand, key pinned."""
    import paramiko

    cfg = _lookup(server)
    client = pinned_client(server)
    client.connect(cfg["hostname"], username=cfg.get("user", "root"), key_filename=cfg["identityfile"],
                   sock=paramiko.ProxyCommand(cfg["proxycommand"]), timeout=timeout,
                   allow_agent=False, look_for_keys=False)
    return client


def fabric_connection(server: Server) -> fabric.Connection:
    """A fabric Connection reading the sandbox ssh_config, with the host key pinned."""
    import fabric
    import paramiko

    # in_stream off: under pytest's capture, reading our stdin raises.
    config = fabric.Config(runtime_ssh_path=str(server.ssh_config), overrides={"run": {"in_stream": False}})
    conn = fabric.Connection(server.name, config=config, connect_kwargs={"allow_agent": False, "look_for_keys": False})
    conn.client.load_host_keys(_lookup(server)["userknownhostsfile"])
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return conn


def pinned_testinfra_host(server: Server) -> Any:
    """A testinfra Host (paramiko backend, the sandbox ssh_config) whose connection pins the host key."""
    import paramiko
    import testinfra

    host = testinfra.get_host(f"paramiko://{server.name}", ssh_config=str(server.ssh_config))
    backend = host.backend
    client = pinned_client(server)
    cfg = _lookup(server)
    client.connect(cfg["hostname"], username="root", key_filename=cfg["identityfile"],
                   sock=paramiko.ProxyCommand(cfg["proxycommand"]), timeout=15,
                   allow_agent=False, look_for_keys=False)
    # The backend builds its client in a cached_property: hand it ours instead.
    backend.__dict__["client"] = client
    return host
