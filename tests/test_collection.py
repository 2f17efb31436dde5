"""The roles as the Ansible collection kominfo.provision (docs/awx.md): laid out by
scripts/collection.py, built by `ansible-galaxy collection build`, installed from the built
tarball by `ansible-galaxy collection install`, and read back by `ansible-doc -t role`; the
execution environment definition checked by ansible-builder's own schema (version 3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ROLES = sorted(p.name for p in (ROOT / "playbooks" / "roles").iterdir() if p.is_dir())
VERSION = "0.1.0"


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def test_collection_builds_installs_and_documents_every_role(tmp_path: Path) -> None:
    laid = run(sys.executable, str(ROOT / "scripts" / "collection.py"), str(tmp_path / "src"))
    assert laid.returncode == 0, laid.stderr
    src = Path(laid.stdout.strip())
    assert src == tmp_path / "src" / "ansible_collections" / "kominfo" / "provision"
    galaxy = yaml.safe_load((src / "galaxy.yml").read_text())
    assert (galaxy["namespace"], galaxy["name"], galaxy["version"]) == ("kominfo", "provision", VERSION)
    assert yaml.safe_load((src / "meta" / "runtime.yml").read_text())["requires_ansible"] == ">=2.16.0"
    # the toolkit's own roles are untouched: no argument specs there (they would change its runs)
    assert not any((ROOT / "playbooks" / "roles" / r / "meta" / "argument_specs.yml").exists() for r in ROLES)

    built = run(str(BIN / "ansible-galaxy"), "collection", "build", str(src), "--output-path", str(tmp_path / "dist"))
    assert built.returncode == 0, built.stderr
    tarball = tmp_path / "dist" / f"kominfo-provision-{VERSION}.tar.gz"
    assert f"Created collection for kominfo.provision at {tarball}" in built.stdout

    inst = tmp_path / "installed"
    done = run(str(BIN / "ansible-galaxy"), "collection", "install", str(tarball), "-p", str(inst))
    assert done.returncode == 0, done.stderr
    assert f"kominfo.provision:{VERSION} was installed successfully" in done.stdout

    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(inst), "ANSIBLE_NOCOLOR": "1", "HOME": str(tmp_path)}
    listed = run(str(BIN / "ansible-doc"), "-t", "role", "-l", "kominfo.provision", "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert sorted(json.loads(listed.stdout)) == [f"kominfo.provision.{r}" for r in ROLES]
    assert len(ROLES) == 11  # server_baseline included

    # every variable a role's defaults document is an option of its entry point, with that default
    for role in ROLES:
        doc = run(str(BIN / "ansible-doc"), "-t", "role", f"kominfo.provision.{role}", "--json", env=env, cwd=tmp_path)
        assert doc.returncode == 0, (role, doc.stderr)
        options = json.loads(doc.stdout)[f"kominfo.provision.{role}"]["entry_points"]["main"]["options"]
        defaults = yaml.safe_load((ROOT / "playbooks" / "roles" / role / "defaults" / "main.yml").read_text()) or {}
        assert set(defaults) <= set(options), (role, set(defaults) - set(options))
        for name, value in defaults.items():
            if options[name].get("required"):
                assert value in ("", [], 0), (role, name, value)  # a required one has an empty placeholder
            else:
                assert options[name]["default"] == value, (role, name)
    assert json.loads(run(str(BIN / "ansible-doc"), "-t", "role", "kominfo.provision.nginx_vhost", "--json",
                          env=env, cwd=tmp_path).stdout)["kominfo.provision.nginx_vhost"]["entry_points"]["main"][
        "options"]["nginx_vhost_kind"]["description"] == ["static | php | proxy"]

    # a missing role argument is refused by Ansible itself, naming it (the specs are live, not decoration)
    play = tmp_path / "play.yml"
    play.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: kominfo.provision.hosting_site\n")
    refused = run(str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(play), env=env, cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "hosting_app" in refused.stdout and "required" in refused.stdout, refused.stdout


def test_execution_environment_is_a_valid_version_3_definition() -> None:
    from ansible_builder.ee_schema import validate_schema

    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    assert ee["version"] == 3
    validate_schema(ee)  # ansible-builder's schema: raises on an unknown key or a wrong type
    # the documented top-level keys of version 3, nothing else
    assert set(ee) <= {"version", "build_arg_defaults", "dependencies", "images", "additional_build_files",
                       "additional_build_steps", "options"}
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    deps = ee["dependencies"]
    assert deps["ansible_core"]["package_pip"] == f"ansible-core=={pins['ansible-core']}"
    assert deps["ansible_runner"]["package_pip"] == f"ansible-runner=={pins['ansible-runner']}"
    # the collection comes from the tarball the build makes, never from Galaxy
    (coll,) = deps["galaxy"]["collections"]
    assert coll["type"] == "file" and coll["name"] == f"collections/kominfo-provision-{VERSION}.tar.gz"
    assert ee["additional_build_files"] == [{"src": f"dist/kominfo-provision-{VERSION}.tar.gz", "dest": "collections"}]
    bad = {**ee, "dependency": ee["dependencies"]}
    try:
        validate_schema(bad)
    except Exception as e:  # DefinitionError
        assert "dependency" in str(e)
    else:
        raise AssertionError("an unknown key passed ansible-builder's schema")
