"""The playbook never outlives `provision`, and Ctrl-C stops it (provision/install/runner.py).

ansible-runner starts ansible-playbook through pexpect in a session of its own that ignores
SIGHUP: a terminal's Ctrl-C does not reach it, and neither does the death of the process
that started it. Here a local playbook (connection local, no server) starts a long task;
the process running it is then SIGKILLed or sent SIGINT.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

PLAYBOOK = """- hosts: all
  gather_facts: false
  tasks:
    - name: Mark the start
      ansible.builtin.file:
        path: "{marker}"
        state: touch
    - name: Wait a long time
      ansible.builtin.command: sleep {sleep}
"""


def alive(needle: str) -> list[str]:
    """Live processes whose command line holds `needle` (zombies excluded)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmd and state not in ("Z", "X"):
            found.append(f"{pid} {cmd[:160]}")
    return found


def wait_gone(needle: str, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := alive(needle)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def start(tmp_path: Path) -> tuple[int, Path, str, Path]:
    """Fork a child (its own process group) that runs the playbook; return when its
    long task has started."""
    from provision.install.runner import AnsibleRunner

    sleep = f"{600 + os.getpid() % 97}.{time.time_ns() % 1000:03d}"  # a command line of its own
    marker, outcome = tmp_path / "started", tmp_path / "outcome"
    book = tmp_path / "book.yml"
    book.write_text(PLAYBOOK.format(marker=marker, sleep=sleep))
    inv = tmp_path / "hosts.ini"
    inv.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.setpgid(0, 0)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            runner = AnsibleRunner(tmp_path / "state", str(inv))
            try:
                r = runner.run(str(book), {})
                outcome.write_text(f"returned {r.status}")
                code = 0
            except KeyboardInterrupt as e:
                outcome.write_text(f"KeyboardInterrupt: {e}")
                code = 10
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while not (marker.exists() and alive(f"sleep {sleep}")):
        assert time.monotonic() < deadline, "the playbook's long task did not start"
        assert os.waitpid(pid, os.WNOHANG) == (0, 0), "the runner ended early"
        time.sleep(0.1)
    return pid, outcome, sleep, book


def test_killed_runner_takes_the_playbook_with_it(tmp_path: Path) -> None:
    pid, _, sleep, book = start(tmp_path)
    assert alive(str(book)), "no ansible-playbook found"
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    # at once (the kernel's parent-death signal), not when the task would have ended
    assert wait_gone(str(book), 5) == [], "ansible-playbook outlived the killed runner"
    assert wait_gone(f"sleep {sleep}", 5) == [], "the playbook's task outlived the killed runner"


def test_ctrl_c_cancels_the_playbook_and_raises_keyboardinterrupt(tmp_path: Path) -> None:
    pid, outcome, sleep, book = start(tmp_path)
    t0 = time.monotonic()
    os.killpg(pid, signal.SIGINT)  # what a terminal's Ctrl-C sends to the foreground job
    _, status = os.waitpid(pid, 0)
    assert time.monotonic() - t0 < 15
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 10, outcome.read_text() if outcome.exists() else status
    text = outcome.read_text()
    assert text.startswith("KeyboardInterrupt: book.yml was cancelled by Ctrl-C") or "cancelled by Ctrl-C" in text, text
    assert "status canceled" in text, text
    assert wait_gone(str(book), 5) == [], "ansible-playbook outlived the Ctrl-C"
    assert wait_gone(f"sleep {sleep}", 5) == [], "the playbook's task outlived the Ctrl-C"


def test_a_caller_s_own_sigint_handler_is_left_alone(tmp_path: Path) -> None:
    """Only Python's default handler is replaced during a run (and put back after)."""
    from provision.install.runner import AnsibleRunner

    inv = tmp_path / "hosts.ini"
    inv.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    book = tmp_path / "quick.yml"
    book.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n")
    def mine(*_: object) -> None:
        pass

    old = signal.signal(signal.SIGINT, mine)
    try:
        r = AnsibleRunner(tmp_path / "state", str(inv)).run(str(book), {})
        assert r.ok, r.stdout_tail
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, old)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    r = AnsibleRunner(tmp_path / "state", str(inv)).run(str(book), {})
    assert r.ok and signal.getsignal(signal.SIGINT) is signal.default_int_handler
