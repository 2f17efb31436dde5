"""What `provision install` would change, as a Plan (shown by `install --dry-run`).

Made from the target (spec, configuration, registry) and the record of the last
successful install of the same environment, without touching the server: a release
fetched at the ref into a new release directory, the environment file written, the
vhost, the switch of `current` and the restart of what serves it. The playbook does each
only when the server differs (a second install of the same commit changes nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provision.install.target import InstallTarget
from provision.plan import Change, Plan
from provision.secrets import REDACTOR

PROVIDER = "install"


def _secret_names(path: str) -> list[str]:
    """The variable names of the secrets file (never its values)."""
    if not path:
        return []
    names = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            names.append(line.split("=", 1)[0].strip())
    return names


def _serving(t: InstallTarget) -> str:
    if t.kind == "php":
        return f"php{t.php_version}-fpm pool {t.instance}"
    if t.kind in ("python", "node"):
        return f"service {t.instance} (127.0.0.1:{t.port})"
    return f"nginx vhost {t.instance}"


def plan_install(target: InstallTarget, ref: str, last: Any, *, skip_installed: bool = False,
                 installed: Any = None) -> Plan:
    """The changes installing `ref` makes. `last` is the last successful install of the
    same environment (an `Install` row or None). `installed` is what the server's fact
    file says (`facts.Installed`, read with one SSH command) or None (not read): when it
    matches, the plan is empty (no playbook runs); when it does not, its reasons are noted
    and the install is planned even with `skip_installed`. Without `installed`,
    `skip_installed` (what `provision apply` did before the fact file) gives an empty plan
    for a ref already recorded as installed."""
    t = target
    where = f"on {t.host}"
    meta = {"target": t.as_dict(), "ref": ref}
    plan = Plan(PROVIDER, t.request_id, existing=1 if last is not None else 0, meta=meta)
    serving = {"release": last.release, "commit": last.commit, "ref": last.ref} if last is not None else None
    if installed is not None and installed.same:
        plan.notes.append(f"{ref} (commit {(installed.commit or '?')[:12]}) is installed on {t.host} as the server "
                          "records it (same commit, environment, configuration, playbook and files): nothing to do.")
        return plan
    if installed is not None and last is not None:
        plan.notes.append("the playbook runs: " + "; ".join(installed.reasons) + ".")
    if last is not None and last.ref == ref and installed is None:
        note = f"{ref} (commit {(last.commit or '?')[:12]}) is already installed on {t.env}"
        if skip_installed:
            plan.notes.append(note + ": nothing to do.")
            return plan
        plan.notes.append(note + ": the playbook checks each step again and changes nothing the server "
                                 "already holds.")
    plan.changes.append(Change("create", "install.release", f"{t.app_root}/releases {where}", None,
                               {"ref": ref, "from": REDACTOR.text(t.repo_url), "build": t.kind}))
    keys = sorted({*t.env_vars, *_secret_names(t.secrets_file)})
    plan.changes.append(Change("update" if last is not None else "create", "install.environment",
                               f"{t.app_root}/shared/.env {where}", None,
                               {"keys": keys, "mode": "0640", "owner": "root", "group": t.instance}))
    plan.changes.append(Change("update" if last is not None else "create", "install.vhost",
                               f"{t.instance} {where}", None,
                               {"names": t.server_names, "tls": t.tls_cert or None,
                                **({"certificate": "self-signed, made on the server (staging)"}
                                   if t.tls_self_signed else {})}))
    plan.changes.append(Change("update" if last is not None else "create", "install.switch",
                               f"{t.app_root}/current {where}", serving, {"release": f"the release of {ref}"}))
    plan.changes.append(Change("update", "install.restart", f"{_serving(t)} {where}", None,
                               {"serves": f"the release of {ref}"}))
    if t.retire:
        plan.changes.append(Change("delete", "install.staging", f"{t.retire} {where}", {"serving": True},
                                   {"serving": False, "why": "production is live (hosting.keep_staging: false)",
                                    "kept": "code, data and user, for a later staging install"}))
    return plan
