"""What a server says is installed: the fact file install.yml writes at the end of a
successful install, read back with one SSH command so a no-change install runs no playbook.

The fact file (`/var/lib/kominfo-provision/installed/<instance>.json`, root's, 0600) holds
the commit, the checksums of the environment (variables and secrets) and of the rest of
the install's inputs (the spec and configuration as the playbook receives them), the
playbook version, and the sha256 of each file the playbook wrote. install.yml removes it
first and writes it last, so a failed or interrupted install leaves none.

The reader (run by the server's python3 as root, like hosting's probe) sends back the
fact file, the sha256 of the same files now, and the commit the ref names now (through
the deploy identity's git, with the key and pinned host key the install left): an edited
file, a changed input or a tag moved to another commit all mean "run the playbook".
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from provision.install.target import InstallTarget

FACTS_DIR = "/var/lib/kominfo-provision/installed"
DEPLOY_HOME = "/var/lib/kominfo-deploy"  # the release role's release_deploy_home
PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"

READER = r'''
import hashlib, json, os, subprocess, sys
P = json.loads(sys.stdin.readline())
def sha(p):
    try:
        with open(p, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None
out = {"facts": None, "files": {}, "current": None, "commit": None, "error": ""}
try:
    with open(P["fact_file"], encoding="utf-8") as f:
        out["facts"] = json.load(f)
except (OSError, ValueError):
    pass
if out["facts"] is not None:
    for p in out["facts"].get("files", {}):
        out["files"][p] = sha(p)
    cur = P["root"] + "/current"
    out["current"] = os.readlink(cur) if os.path.islink(cur) else None
    if P["resolve"]:
        ssh = ("ssh -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes "
               "-o IdentitiesOnly=yes -o BatchMode=yes" % P["known_hosts"])
        if os.path.exists(P["key"]):
            ssh += " -i " + P["key"]
        try:
            r = subprocess.run(["runuser", "-u", P["owner"], "--", "env", "GIT_SSH_COMMAND=" + ssh, "git", "-C",
                                P["root"] + "/cache", "ls-remote", "origin", P["ref"]],
                               capture_output=True, text=True, timeout=30)
            lines = [l.split("\t") for l in r.stdout.splitlines() if "\t" in l]
            if r.returncode == 0:
                peeled = [c for c, n in lines if n.endswith("^{}")]
                sha = (peeled or [c for c, n in lines])[0] if lines else ""
                if sha and not peeled:
                    # A server that does not advertise peeled tags names an annotated tag's
                    # object: its commit, when the cache holds that tag (else it is new).
                    p = subprocess.run(["runuser", "-u", P["owner"], "--", "git", "-C", P["root"] + "/cache",
                                        "rev-parse", "--verify", "--quiet", sha + "^{commit}"],
                                       capture_output=True, text=True, timeout=30)
                    if p.returncode == 0 and p.stdout.strip():
                        sha = p.stdout.strip()
                out["commit"] = sha
            else:
                out["error"] = r.stderr.strip()[-300:]
        except (OSError, subprocess.TimeoutExpired) as e:
            out["error"] = str(e)
json.dump(out, sys.stdout)
'''


def fact_file(target: InstallTarget) -> str:
    return f"{FACTS_DIR}/{target.instance}.json"


def written_files(target: InstallTarget) -> list[str]:
    """The files install.yml writes whose content an operator could edit by hand."""
    t = target
    files = [f"{t.app_root}/shared/.env", f"{t.app_root}/shared/.env.hosting",
             f"/etc/nginx/sites-available/{t.instance}.conf",
             f"/etc/nginx/sites-enabled/{t.instance}.conf"]  # the link: gone when the site is stopped
    if t.kind == "php":
        files.append(f"/etc/php/{t.php_version}/fpm/pool.d/{t.instance}.conf")
    if t.kind in ("python", "node"):
        files.append(f"/etc/systemd/system/{t.instance}.service")
    if t.auth_file:
        files.append(f"/etc/nginx/kominfo-auth/{t.instance}.htpasswd")
    if t.tls_self_signed:  # staging's own certificate: a lost or replaced one is made again
        files.append(t.tls_cert)
    return files


@cache
def playbook_version() -> str:
    """sha256 over every file of the playbooks and roles (a changed role reruns installs)."""
    h = hashlib.sha256()
    for p in sorted(PLAYBOOKS.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(PLAYBOOKS)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def env_sha256(target: InstallTarget) -> str:
    h = hashlib.sha256(json.dumps(target.env_vars, sort_keys=True).encode())
    if target.secrets_file:
        h.update(b"\0" + Path(target.secrets_file).read_bytes())
    return h.hexdigest()


def config_sha256(target: InstallTarget) -> str:
    """The install's inputs other than the ref and the environment, as the playbook gets them."""
    v = target.extravars()
    v.pop("app_env", None)
    if target.auth_file:  # its content, not only its path: a changed password reruns the install
        v["app_auth_file"] = hashlib.sha256(Path(target.auth_file).read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps(v, sort_keys=True, default=str).encode()).hexdigest()


def expected(target: InstallTarget, ref: str) -> dict[str, Any]:
    """What install.yml records (extravar `app_facts`), without the commit (the playbook knows it)."""
    return {"fact_file": fact_file(target), "ref": ref, "env_sha256": env_sha256(target),
            "config_sha256": config_sha256(target), "playbook_version": playbook_version(),
            "files": written_files(target), "root": target.app_root}


@dataclass
class Installed:
    """The answer: `same` when the server holds exactly what installing `ref` would make."""
    same: bool
    commit: str | None = None
    reasons: list[str] = field(default_factory=list)


def compare(target: InstallTarget, ref: str, seen: dict[str, Any]) -> Installed:
    """Compare what the reader saw with what installing `ref` now would record."""
    facts = seen.get("facts")
    if not facts:
        return Installed(False, reasons=["the server records no install of this instance"])
    want = expected(target, ref)
    reasons = []
    commit = facts.get("commit") or ""
    now = seen.get("commit")
    if re.fullmatch(r"[0-9a-f]{40}", ref):
        now = ref
    if not now:
        reasons.append(f"the commit of {ref} could not be read on the server ({seen.get('error') or 'no such ref'})")
    elif now != commit:
        reasons.append(f"{ref} is now commit {now[:12]}, the server has {commit[:12]}")
    for key, what in (("env_sha256", "the environment"), ("config_sha256", "the spec or configuration"),
                      ("playbook_version", "the playbook")):
        if facts.get(key) != want[key]:
            reasons.append(f"{what} changed since the last install")
    if sorted(facts.get("files", {})) != sorted(want["files"]):
        reasons.append("the set of installed files changed")
    for p, digest in sorted(facts.get("files", {}).items()):
        if seen.get("files", {}).get(p) != digest:
            reasons.append(f"{p} on the server differs from what the install wrote")
    if seen.get("current") != facts.get("current"):
        reasons.append("current points at another release than the install left")
    return Installed(not reasons, commit or None, reasons)


def read_installed(app: Any, target: InstallTarget, ref: str, inventory: Any, timeout: float = 60) -> Installed:
    """One SSH command to `target.host`. Never raises for the server's answer: anything it
    cannot read means "not the same" (the playbook then runs and reports the real problem)."""
    from provision.errors import ProvisionError
    from provision.remote import run_python

    params = {"fact_file": fact_file(target), "root": target.app_root, "ref": ref,
              "resolve": not re.fullmatch(r"[0-9a-f]{40}", ref), "owner": "kominfo-deploy",
              "key": f"{DEPLOY_HOME}/.ssh/{Path(target.app_root).name}.key",
              "known_hosts": f"{DEPLOY_HOME}/.ssh/{Path(target.app_root).name}.known_hosts"}
    h = app.config.hosting
    try:
        seen = run_python(target.host, inventory.connection(target.host), READER, params, "the installed release",
                          h.ssh_config, h.known_hosts, timeout)
    except ProvisionError:
        seen = None
    if seen is None:
        return Installed(False, reasons=[f"what {target.host} holds could not be read"])
    return compare(target, ref, seen)
