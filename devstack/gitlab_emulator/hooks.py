"""Scripts the emulator writes at start: the git hooks and the SSH forced command (like GitLab Shell).

They use only the standard library and call the emulator's internal API on loopback.
"""

from __future__ import annotations

import sys
from pathlib import Path

_CALL = '''
import json, os, subprocess, sys, urllib.request

def call(url, secret, path, data):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(url + "/api/v4/internal/" + path, data=json.dumps(data).encode(),
                                 headers={"Gitlab-Shared-Secret": secret, "Content-Type": "application/json"})
    with opener.open(req, timeout=60) as resp:
        return json.load(resp)
'''

PRE_RECEIVE = '''
ZERO = "0" * 40
changes = []
for line in sys.stdin:
    old, new, ref = line.split()
    forced = False
    if old != ZERO and new != ZERO:
        forced = subprocess.run(["git", "merge-base", "--is-ancestor", old, new]).returncode != 0
    changes.append([old, new, ref, forced])
url, secret = os.environ.get("GL_EMULATOR_URL"), os.environ.get("GL_EMULATOR_SECRET")
if not url or not secret:
    print("GitLab: pushes go through the emulator's HTTP or SSH server only", file=sys.stderr)
    sys.exit(1)
answer = call(url, secret, "allowed", {"gl_id": os.environ.get("GL_ID", ""), "gl_project_id": os.environ.get("GL_PROJECT_ID"),
                                       "action": "git-receive-pack", "changes": changes})
if not answer.get("status"):
    print("GitLab: " + answer.get("message", "denied"), file=sys.stderr)
    sys.exit(1)
'''

POST_RECEIVE = '''
changes = [line.split() + [False] for line in sys.stdin if line.strip()]
url, secret = os.environ.get("GL_EMULATOR_URL"), os.environ.get("GL_EMULATOR_SECRET")
if url and secret:
    call(url, secret, "post_receive", {"gl_id": os.environ.get("GL_ID", ""), "gl_project_id": os.environ.get("GL_PROJECT_ID"),
                                       "changes": changes})
'''

SHELL = '''
import shlex
URL, SECRET = {url!r}, {secret!r}
key = sys.argv[1]
command = os.environ.get("SSH_ORIGINAL_COMMAND", "")
try:
    words = shlex.split(command)
except ValueError:
    words = []
if not words:
    print("Welcome to GitLab, Anonymous!")
    sys.exit(0)
if words[0] not in ("git-upload-pack", "git-receive-pack") or len(words) != 2:
    print("Disallowed command", file=sys.stderr)
    sys.exit(1)
action, path = words
answer = call(URL, SECRET, "allowed", {{"gl_id": key, "project": path.strip("/"), "action": action}})
if not answer.get("status"):
    print("GitLab: " + answer.get("message", "denied"), file=sys.stderr)
    sys.exit(1)
env = dict(os.environ, GL_ID=key, GL_PROJECT_ID=str(answer["gl_project_id"]), GL_PROTOCOL="ssh",
           GL_EMULATOR_URL=URL, GL_EMULATOR_SECRET=SECRET)
os.execvpe("git", ["git", action[4:], answer["repository_path"]], env)
'''


def _write(path: Path, body: str) -> None:
    path.write_text(f"#!{sys.executable}\n" + _CALL + body)
    path.chmod(0o755)


def write_hooks(hooks_dir: Path) -> None:
    hooks_dir.mkdir(parents=True, exist_ok=True)
    _write(hooks_dir / "pre-receive", PRE_RECEIVE)
    _write(hooks_dir / "post-receive", POST_RECEIVE)


def write_shell(path: Path, url: str, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, SHELL.format(url=url, secret=secret))
