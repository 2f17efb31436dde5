"""Read the nginx sites a server already serves: one SSH round trip per host.

`provision import` uses it to find applications made before the toolkit. For every
enabled site it reports the file, each server block's names, document root, TLS
certificate path (with the certificate's PEM, read to learn its expiry) and PHP-FPM
socket. Nothing secret comes back: never a private key, only whether it exists.
"""

from __future__ import annotations

from typing import Any

from provision.remote import run_python

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
    sites: list[dict[str, Any]] = run_python(host, connection, READER, {}, "the nginx sites", ssh_config,
                                             known_hosts, timeout)
    return sites
