"""Issue 13, item 1, on a real server: spec text never runs as Jinja, whatever `spec set`
decided. Every spec text field that reaches Ansible (application.name and description,
runtime.env values, runtime.start_command, runtime.document_root) gets the "Jinja in free
text" forms of the hostile corpus, each touching a marker file of its own if it ran.

`spec set` refuses them (exit 2 naming the field). The hostile spec is then stored
directly in the database, and the spec's own text and path rules are switched off for the
rest of the test, so `install` and `hosting apply` really hand these values to Ansible:
the runner's guard (the unsafe vars file) is what is tested. No marker may appear on the
controller or on the server, and the values reach the server verbatim.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import shlex
import uuid
from pathlib import Path
from typing import Any

import markupsafe
import pytest
import yaml

from tests.helpers import run_cli
from tests.hostile.corpus import JINJA_TEXT_TEMPLATES
from tests.install.conftest import APPS, served

pytestmark = [pytest.mark.root, pytest.mark.slow]


class Markers:
    """Marker paths under /var/tmp (present on the controller and on the server)."""

    def __init__(self) -> None:
        self.base = f"/var/tmp/kp-jinja-{uuid.uuid4().hex[:12]}"

    def form(self, i: int, label: str) -> str:
        return JINJA_TEXT_TEMPLATES[i].replace("MARKER", f"{self.base}-{label}")

    def found(self, server: Any) -> list[str]:
        here = glob.glob(f"{self.base}-*")
        there = server.run(f"ls -d {self.base}-* 2>/dev/null || true").stdout.split()
        return [f"controller:{p}" for p in here] + [f"server:{p}" for p in there]


def _hostile_store(rid: str, spec: dict[str, Any], home: Path, monkeypatch: pytest.MonkeyPatch,
                   fields: list[str]) -> None:
    """`spec set` refuses the spec naming each field; it is then stored as the request's next
    version without validation, and read back without the text and path rules."""
    from provision.context import App
    from provision.store.models import SpecVersion

    path = home / f"{rid}-hostile.yaml"
    text = yaml.safe_dump(spec, allow_unicode=True, sort_keys=False)
    path.write_text(text)
    r = run_cli("spec", "set", rid, str(path))
    assert r.exit_code == 2, r
    for field in fields:
        assert field in r.stderr, (field, r.stderr)
    app = App()
    with app.store.write() as s:
        version = len(s.query(SpecVersion).filter_by(request_id=rid).all()) + 1
        s.add(SpecVersion(request_id=rid, version=version, text=text, sha256=hashlib.sha256(text.encode()).hexdigest(),
                          created_at=dt.datetime.now(dt.UTC), created_by="hostile-test"))
    monkeypatch.setattr("provision.spec.text_checks", lambda data, path=(): [])
    monkeypatch.setattr("provision.spec.path_problem", lambda value, directory_ok=False: None)
    assert run_cli("spec", "show", rid).stdout.count("lookup") >= 1


def _open(rid: str) -> None:
    r = run_cli("request", "open", "--opd-code", "disdik", "--opd-name", "Dinas Pendidikan", "--app", "Aplikasi Uji",
                "--letter-number", "005/DISDIK/2026", "--letter-date", "2026-11-02", "--id", rid)
    assert r.exit_code == 0, r


def test_install_hands_hostile_text_to_ansible_as_data(install_home: Path, app_server, git_server,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A python app: hostile env values (all forms), start command, name and description.
    The install succeeds; the .env file and the systemd unit hold the values verbatim."""
    rid, slug = "REQ-2026-0131", "jinja-antrian"
    git_server.create("python", slug)
    _open(rid)
    m = Markers()
    env = {f"APP_J{i}": m.form(i, f"env{i}") for i in range(len(JINJA_TEXT_TEMPLATES))}
    start = "python3 app.py " + " ".join(f'"{m.form(i, f"start{i}")}"' for i in (0, 2, 4))
    spec = yaml.safe_load((APPS / "python" / "spec.yaml").read_text())
    spec["application"].update(slug=slug, name=m.form(1, "name"), description=m.form(3, "description"))
    spec["runtime"].update(start_command=start, env={**spec["runtime"]["env"], **env})
    spec["hosting"]["host"] = app_server.name
    _hostile_store(rid, spec, install_home, monkeypatch,
                   ["application.name", "application.description", "runtime.env.APP_J0", "runtime.env.APP_J6",
                    "runtime.start_command"])

    r = run_cli("install", rid, "--ref", "v1.0.0", "--yes")

    assert m.found(app_server) == [], "a spec value ran as a template"
    assert r.exit_code == 0, r
    assert "Layanan Antrian versi 1 (Selamat datang)" in served(app_server, f"{slug}-staging.batam.go.id")
    instance = f"{slug}-staging"
    dotenv = app_server.run(f"cat /srv/apps/{instance}/shared/.env").stdout.splitlines()
    for key, value in env.items():
        assert f"{key}={value}" in dotenv, (key, value, dotenv)
    unit = app_server.run(f"cat /etc/systemd/system/{instance}.service").stdout
    assert f"ExecStart=/bin/sh -c {shlex.quote('exec ' + start)}" in unit, unit
    assert "root:" not in "\n".join(dotenv)  # the /etc/shadow lookup did not run either


def test_install_with_a_hostile_document_root_fails_without_running_it(install_home: Path, app_server, git_server,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A static app whose document root is Jinja: the vhost role's own check refuses the root
    (it sees the value as text, unevaluated), the install fails before any vhost is written;
    nothing ran."""
    rid, slug = "REQ-2026-0132", "jinja-statis"
    git_server.create("static", slug)
    _open(rid)
    m = Markers()
    spec = yaml.safe_load((APPS / "static" / "spec.yaml").read_text())
    spec["application"]["slug"] = slug
    spec["runtime"]["document_root"] = m.form(0, "docroot")
    spec["hosting"]["host"] = app_server.name
    _hostile_store(rid, spec, install_home, monkeypatch, ["runtime.document_root"])

    r = run_cli("install", rid, "--ref", "v1.0.0", "--yes")

    assert m.found(app_server) == [], "a spec value ran as a template"
    assert r.exit_code == 1, r
    assert ("task 'Check the vhost's variables' failed on kominfo1: the vhost variables are invalid "
            "(name, server names, root, kind, TLS pair)") in r.stderr.replace(app_server.name, "kominfo1"), r.stderr
    assert app_server.run(f"test -e /etc/nginx/sites-enabled/{slug}-staging.conf", check=False).returncode != 0


def test_hosting_apply_hands_hostile_text_to_ansible_as_data(install_home: Path, app_server,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`hosting apply` with a hostile application name (the placeholder page's title): the
    site is hosted, the page shows the name verbatim (HTML-escaped), nothing ran."""
    from devstack.ca import make_ca
    from tests.hosting.conftest import HostingEnv

    ca_cert, ca_key = make_ca(install_home / "ca")
    cfg = install_home / "provision.toml"  # [hosting] is the last section
    cfg.write_text(cfg.read_text() + f'tls_source = "local-ca"\nlocal_ca_cert = "{ca_cert}"\n'
                   f'local_ca_key_file = "{ca_key}"\n')
    rid, slug = "REQ-2026-0133", "jinja-hosting"
    _open(rid)
    m = Markers()
    name = m.form(0, "n0") + " " + m.form(5, "n5")  # within the name's 200 characters
    assert len(name) <= 200
    spec = {"version": 1, "application": {"slug": slug, "name": name, "description": m.form(4, "description")},
            "runtime": {"kind": "static"}, "hosting": {"host": app_server.name, "database": "none", "tls": True}}
    _hostile_store(rid, spec, install_home, monkeypatch, ["application.name", "application.description"])
    HostingEnv(install_home, ca_cert, ca_key, app_server).pass_gate(rid)

    r = run_cli("hosting", "apply", rid, "--yes")

    assert m.found(app_server) == [], "a spec value ran as a template"
    assert r.exit_code == 0, r
    page = app_server.run(f"cat /srv/apps/{slug}/releases/placeholder/index.html").stdout
    assert f"<h1>{markupsafe.escape(name)}</h1>" in page, page
