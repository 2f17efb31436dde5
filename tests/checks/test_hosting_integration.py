"""The checks against what `provision hosting apply` really lays out on a sandbox server:
the host and tls checks pass on a fresh hosting, and see the hosting step's own
artefacts drift (its php-fpm pool removed, its database dropped)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.checks.env import by, problems
from tests.helpers import run_cli
from tests.hosting.conftest import HostingEnv, _environment, write_config

pytestmark = [pytest.mark.root, pytest.mark.slow]
RID = "REQ-2026-0101"


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory, sandbox: Any, kominfo_server: Any) -> Iterator[HostingEnv]:
    from devstack.ca import make_ca

    home = tmp_path_factory.mktemp("checks-hosting")
    ca_cert, ca_key = make_ca(home / "ca")
    port = kominfo_server.forward(443)
    checks = (f'[checks]\nca_bundle = "{ca_cert}"\ntimeout = 15.0\n'
              f'connect_to = {{"{kominfo_server.name}:443" = "127.0.0.1:{port}"}}\n')
    write_config(home, ca_cert, ca_key, str(sandbox.inventory), str(sandbox.ssh_config), str(sandbox.known_hosts),
                 extra=checks)
    mp = _environment(home)
    env = HostingEnv(home, ca_cert, ca_key, kominfo_server)
    env.open_request(RID, "rapor", database="mariadb", kind="php")
    env.pass_gate(RID)
    r = run_cli("hosting", "apply", RID, "--yes")
    assert r.exit_code == 0, r
    yield env
    mp.undo()


def check() -> tuple[int, list[dict], str]:
    r = run_cli("check", "--only", "host,tls", "--json")
    assert r.exit_code in (0, 3), r
    return r.exit_code, r.json["results"], r.stderr


def test_fresh_hosting_passes(hosted: HostingEnv) -> None:
    code, results, err = check()
    assert code == 0 and err == "", problems(results)
    name = hosted.server.name
    assert {r["name"] for r in results if r["check"] == "host"} == {
        f"{name}: {x}" for x in ("services", "nginx vhost", "php-fpm pool", "app user", "disk space", "database")}
    assert by(results, name=f"{name}: database")[0]["message"] == "mariadb answers, database rapor present"
    [tls] = by(results, check="tls")
    assert tls["name"] == "certificate of rapor.batam.go.id" and tls["message"].startswith("valid, name matches")


def test_hosting_artefacts_drift(hosted: HostingEnv) -> None:
    s = hosted.server
    s.run("mv /etc/php/8.2/fpm/pool.d/rapor.conf /root/rapor.conf.away && "
          "mysqldump --databases rapor > /root/rapor.sql && mysql -e 'DROP DATABASE rapor'")
    try:
        code, results, err = check()
    finally:
        s.run("mv /root/rapor.conf.away /etc/php/8.2/fpm/pool.d/rapor.conf && mysql < /root/rapor.sql")
    assert code == 3 and "checks failed" in err
    name = s.name
    assert problems(results) == [("fail", RID, "host", f"{name}: database"),
                                 ("fail", RID, "host", f"{name}: php-fpm pool")]
    assert by(results, name=f"{name}: php-fpm pool")[0]["message"] == "/etc/php/8.2/fpm/pool.d/rapor.conf missing"
    assert by(results, name=f"{name}: database")[0]["message"] == "mariadb answers but has no database rapor"
    code, results, _ = check()
    assert code == 0, problems(results)
