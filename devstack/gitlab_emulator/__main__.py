"""Run the emulator for people: `python -m devstack.gitlab_emulator --port 8929 --state DIR`.

Prints the URL, the root token and the SSH details, writes them to DIR/credentials.json,
and serves until interrupted.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path

from .emulator import GitLabEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.gitlab_emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="HTTP port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--state", type=Path, required=True, help="directory for repositories and state.json (kept)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--ssh-port", type=int, default=0, help="sshd port (0: a free one)")
    parser.add_argument("--no-ssh", action="store_true", help="do not start sshd")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    emulator = GitLabEmulator(args.state, port=args.port, host=args.host, ssh=not args.no_ssh, ssh_port=args.ssh_port,
                              verbose=args.verbose).start()
    details = {
        "url": emulator.url,
        "root_token": emulator.root_token,
        "ssh_port": emulator.ssh.port if emulator.ssh else None,
        "ssh_user": emulator.ssh.user if emulator.ssh else None,
        "ssh_known_hosts": emulator.ssh_known_hosts if emulator.ssh else None,
    }
    credentials = args.state / "credentials.json"
    credentials.write_text(json.dumps(details, indent=2) + "\n")
    credentials.chmod(0o600)
    print(json.dumps(details, indent=2), flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    try:
        stopped.wait()
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
