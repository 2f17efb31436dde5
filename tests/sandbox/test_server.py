"""Throwaway Kominfo servers behave like production hosts to every client the toolkit uses."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import paramiko
import pytest

from devstack.sandbox import SandboxError
from devstack.sandbox import server as server_mod
from devstack.sandbox.clients import fabric_connection, pinned_testinfra_host, ssh_client
from devstack.sandbox.server import SERVICES, Sandbox, Server, clean_orphans, netns_list

VENV_BIN = str(Path(sys.executable).parent)


def test_services_run_under_the_service_manager(kominfo_server: Server) -> None:
    states = kominfo_server.run(["systemctl", "is-active", *SERVICES]).stdout.split()
    assert states == ["active"] * len(SERVICES)
    # Ansible picks its service manager from PID 1's name.
    assert kominfo_server.run(["cat", "/proc/1/comm"]).stdout.strip() == "systemd"
    assert kominfo_server.run(["hostname"]).stdout.strip() == kominfo_server.name
    assert not kominfo_server.run(["test", "-e", "/run/nologin"], check=False).returncode == 0


def test_openssh_uses_the_written_config_and_pins_the_host_key(kominfo_server: Server, tmp_path: Path) -> None:
    cfg = kominfo_server.ssh_config
    ok = subprocess.run(["ssh", "-F", str(cfg), kominfo_server.name, "hostname"], capture_output=True, text=True,
                        timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == kominfo_server.name
    # Same config, but known_hosts holds another key for the name: ssh must refuse.
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    bad_known = tmp_path / "known_hosts"
    bad_known.write_text(f"{kominfo_server.name} {other.with_suffix('.pub').read_text().split(' ')[0]} "
                         f"{other.with_suffix('.pub').read_text().split(' ')[1]}\n")
    bad_cfg = tmp_path / "ssh_config"
    bad_cfg.write_text(cfg.read_text().replace(str(Path(cfg).parent / "known_hosts"), str(bad_known)))
    refused = subprocess.run(["ssh", "-F", str(bad_cfg), kominfo_server.name, "true"], capture_output=True,
                             text=True, timeout=30)
    assert refused.returncode == 255
    assert "host key" in refused.stderr.lower()


def test_paramiko_connects_with_the_pinned_key(kominfo_server: Server) -> None:
    client = ssh_client(kominfo_server)
    try:
        _, out, _ = client.exec_command("id -u && systemctl is-active nginx")
        assert out.read().decode().split() == ["0", "active"]
    finally:
        client.close()


def test_paramiko_rejects_an_unknown_host_key(kominfo_server: Server) -> None:
    cfg = paramiko.SSHConfig.from_path(str(kominfo_server.ssh_config)).lookup(kominfo_server.name)
    client = paramiko.SSHClient()
    # No key loaded for the name: a pinned client must refuse, not add it.
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        client.connect(cfg["hostname"], username="root", key_filename=cfg["identityfile"],
                       sock=paramiko.ProxyCommand(cfg["proxycommand"]), allow_agent=False, look_for_keys=False)
    client.close()


def test_fabric_runs_commands(kominfo_server: Server) -> None:
    with fabric_connection(kominfo_server) as conn:
        result = conn.run("hostname && sudo -n true && echo sudo-ok", hide=True)
    assert result.stdout.split() == [kominfo_server.name, "sudo-ok"]


def test_testinfra_sees_services_packages_and_sockets(kominfo_server: Server) -> None:
    host = pinned_testinfra_host(kominfo_server)
    assert host.service("nginx").is_running
    assert host.service("php8.2-fpm").is_running
    assert host.package("mariadb-server").is_installed
    assert host.socket("tcp://0.0.0.0:80").is_listening
    assert host.socket("tcp://127.0.0.1:5432").is_listening
    assert host.file("/etc/hostname").content_string.strip() == kominfo_server.name


def test_forward_reaches_nginx_from_this_machine(kominfo_server: Server) -> None:
    port = kominfo_server.forward(80)
    assert kominfo_server.forward(80) == port  # one forwarder per inner port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
        assert resp.status == 200
        assert b"nginx" in resp.read()


def test_forward_to_a_taken_port_says_so(kominfo_server: Server) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        with pytest.raises(SandboxError, match="taken"):
            kominfo_server.forward(443, local_port=taken)


def test_databases_inside_answer(kominfo_server: Server) -> None:
    assert kominfo_server.run(["mariadb", "-N", "-e", "SELECT 1+1"]).stdout.strip() == "2"
    out = kominfo_server.run(["su", "postgres", "-c", "psql -tAc 'SELECT 2+2'"]).stdout.strip()
    assert out == "4"


def test_ansible_service_module_restarts_nginx(kominfo_server: Server, sandbox: Sandbox, tmp_path: Path) -> None:
    before = kominfo_server.run(["cat", "/run/nginx.pid"]).stdout.strip()
    play = tmp_path / "play.yml"
    play.write_text(textwrap.dedent("""\
        - hosts: kominfo
          gather_facts: true
          tasks:
            - name: the service manager Ansible sees
              ansible.builtin.assert:
                that: ansible_service_mgr == "systemd"
            - name: restart nginx
              ansible.builtin.service:
                name: nginx
                state: restarted
            - name: enable php-fpm through the systemd module
              ansible.builtin.systemd:
                name: php8.2-fpm
                enabled: true
                state: started
        """))
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "ANSIBLE_HOST_KEY_CHECKING": "True",
           "ANSIBLE_PIPELINING": "True", "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run([f"{VENV_BIN}/ansible-playbook", "-v", "-i", str(sandbox.inventory), "--limit",
                           kominfo_server.name, str(play)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "failed=0" in proc.stdout and "unreachable=0" in proc.stdout
    after = kominfo_server.run(["cat", "/run/nginx.pid"]).stdout.strip()
    assert after and after != before, proc.stdout[-3000:]
    assert kominfo_server.run(["systemctl", "is-active", "nginx"]).stdout.strip() == "active"


def _leftovers(rec: server_mod.ServerRecord) -> list[str]:
    found = []
    if rec.netns in netns_list():
        found.append(f"netns {rec.netns}")
    if rec.init_pid and Path(f"/proc/{rec.init_pid}").exists():
        found.append(f"process {rec.init_pid}")
    mounts = Path("/proc/mounts").read_text()
    if str(rec.dir) in mounts or f"/run/netns/{rec.netns}" in mounts:
        found.append("mounts")
    if rec.dir.exists():
        found.append(f"dir {rec.dir}")
    if (server_mod.REGISTRY / f"{rec.netns}.json").exists():
        found.append("registry entry")
    for pid in (rec.forwards or {}).values():
        if Path(f"/proc/{pid}").exists():
            found.append(f"forwarder {pid}")
    return found


def test_stop_leaves_nothing(server_factory) -> None:  # type: ignore[no-untyped-def]
    (server,) = server_factory(1, wait_services=False)
    server.forward(80)
    rec = server.record
    assert _leftovers(rec)  # the check sees a running server
    server.stop()
    assert _leftovers(rec) == []


def test_two_servers_are_isolated(server_factory) -> None:  # type: ignore[no-untyped-def]
    a, b = server_factory(2, wait_services=True)
    assert a.name != b.name and a.host_key != b.host_key
    a.run("echo only-a > /root/marker")
    assert b.run(["test", "-e", "/root/marker"], check=False).returncode != 0
    # Killing a daemon in one server touches nothing in the other (nor on this machine).
    a.run(["systemctl", "stop", "nginx"])
    assert b.run(["systemctl", "is-active", "nginx"], check=False).stdout.strip() == "active"


def test_servers_of_a_dead_process_are_cleaned_at_next_start(sandbox: Sandbox, tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from devstack.sandbox.server import Sandbox
        s = Sandbox(Path({str(tmp_path / 'crashed')!r})).start_server("crashed")
        print(s.netns, flush=True)
        os._exit(0)  # dies without stopping it, like a killed test run
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                          cwd=Path(__file__).parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
    netns = proc.stdout.split()[-1]
    assert netns in netns_list()
    assert netns in clean_orphans()
    assert netns not in netns_list()
    assert not (tmp_path / "crashed" / "servers" / "crashed").exists()


def test_not_root_is_refused_before_anything_starts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    before = netns_list()
    with pytest.raises(SandboxError, match="needs root"):
        Sandbox(tmp_path / "sb").start_server()
    assert netns_list() == before and not (tmp_path / "sb").exists()


def test_a_failed_boot_leaves_nothing(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(server_mod, "BOOT_SCRIPT", "echo 'mount: overlay: no such device' >&2; exit 32")
    sb = Sandbox(tmp_path / "sb")
    before = netns_list()
    with pytest.raises(SandboxError, match="(did not boot|stopped while booting).*no such device"):
        sb.start_server("broken")
    assert netns_list() == before
    assert not (tmp_path / "sb" / "servers" / "broken").exists()
    assert sb.servers == {}
    shutil.rmtree(tmp_path / "sb", ignore_errors=True)
