"""Read the nginx sites a server already serves: one SSH round trip per host.

`provision import` uses it to find applications made before the toolkit. For every
enabled site it reports the file, each server block's names, document root, TLS
certificate path (with the certificate's PEM, read to learn its expiry) and PHP-FPM
socket. Nothing secret comes back: never a private key, only whether it exists.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from typing import Any

from provision.errors import AuthError, ProvisionError, Unreachable
from provision.hosting.probe import ssh_argv

READER = r'''
import glob, json, os, re, sys
def read(p):
    try:
        with open(p, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None
def directive(block, name):
    m = re.search(r"(?m)^\s*" + name + r"\s+([^;]+);", block)
    return m.group(1).strip() if m else None
sites = []
for path in sorted(glob.glob("/etc/nginx/sites-enabled/*")):
    text = read(path)
    if text is None:
        continue
    text = re.sub(r"(?m)#.*$", "", text)
    names, roots, certs, sockets = [], [], [], []
    for block in re.split(r"(?m)^\s*server\s*\{", text)[1:]:
        for n in (directive(block, "server_name") or "").split():
            if n not in names and n != "_":
                names.append(n)
        for value, bag in ((directive(block, "root"), roots), (directive(block, "ssl_certificate"), certs)):
            if value and value not in bag:
                bag.append(value)
        for s in re.findall(r"fastcgi_pass\s+unix:([^;\s]+)\s*;", block):
            if s not in sockets:
                sockets.append(s)
    cert = certs[0] if certs else None
    sites.append({"file": os.path.basename(path), "real": os.path.realpath(path), "names": names,
                  "root": roots[0] if roots else None, "root_exists": bool(roots) and os.path.isdir(roots[0]),
                  "cert": cert, "cert_pem": read(cert) if cert else None,
                  "php_socket": sockets[0] if sockets else None})
json.dump(sites, sys.stdout)
'''


def read_sites(host: str, connection: dict[str, Any], ssh_config: str = "", known_hosts: str = "",
               timeout: float = 60) -> list[dict[str, Any]]:
    """The enabled nginx sites of one host. Raises Unreachable / AuthError / ProvisionError."""
    argv = ssh_argv(connection, ssh_config, known_hosts, "python3 -c " + shlex.quote(READER))
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise Unreachable(f"{host} did not answer within {timeout:.0f} s.",
                          "Check that the server is up and reachable over SSH. Nothing was changed.") from e
    except OSError as e:
        raise ProvisionError(f"cannot run ssh to read {host}: {e}.") from e
    if proc.returncode == 255:
        err = " ".join(proc.stderr.split())[-500:]
        if "host key verification failed" in err.lower() or "identification has changed" in err.lower():
            raise AuthError(f"the SSH host key of {host} does not match the pinned key: refused. {err}",
                            "If the server was really reinstalled, verify its new key out of band and update "
                            "hosting.known_hosts.")
        raise Unreachable(f"{host} is unreachable over SSH: {err}",
                          "Check that the server is up and reachable over SSH. Nothing was changed.")
    if proc.returncode != 0:
        raise ProvisionError(f"reading the nginx sites of {host} failed: {' '.join(proc.stderr.split())[-500:]}")
    try:
        sites = json.loads(proc.stdout)
    except ValueError as e:
        raise ProvisionError(f"reading the nginx sites of {host} gave no JSON: {proc.stdout[:200]!r}") from e
    return sites  # type: ignore[no-any-return]
