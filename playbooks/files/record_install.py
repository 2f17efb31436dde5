"""install.yml's last task: record what is installed (read by provision/install/facts.py).

Run by the server's python3 as root; the values come as JSON on stdin."""
import hashlib
import json
import os
import sys

P = json.loads(sys.stdin.read())


def sha(p):
    try:
        with open(p, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


facts = {k: P[k] for k in ("commit", "ref", "env_sha256", "config_sha256", "playbook_version")}
facts["files"] = {p: sha(p) for p in P["files"]}
facts["current"] = os.readlink(P["root"] + "/current")
os.makedirs(os.path.dirname(P["fact_file"]), mode=0o700, exist_ok=True)
tmp = P["fact_file"] + ".tmp"
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump(facts, f, sort_keys=True)
os.replace(tmp, P["fact_file"])
