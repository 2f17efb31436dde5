"""A small typed adapter over ansible-runner.

What it guarantees (see ../shared/notes/ansible.md for why each matters):
- one private data directory per run, under <state_dir>/ansible/, old ones pruned;
- values reach the playbook only as data: one 0600 vars file of `!unsafe` strings passed
  as `-e @FILE` (ansible_inputs.py), so no spec text is ever templated by Ansible;
- `suppress_env_files`: nothing is written to env/; extravars hold no secrets (secrets
  travel as paths of 0600 files the play reads with no_log), and the child's environment
  is built from an allow-list (ansible_inputs.child_env), so the `command` artifact,
  which records argv and the environment, holds none either;
- host key checking ON, against the configured known_hosts (command-line -o beats any
  ssh_config), and an SSH control socket directory of our own, so no connection opened
  before a key change is reused;
- the venv's bin on PATH; the inventory path absolute; the playbooks' ansible.cfg;
- `run()` returns a `PlaybookResult` (status, rc, per-host counts, failures, stats);
  it never raises for a failed playbook. Progress goes to `on_event`;
- the playbook never outlives us: ansible-runner starts it in a session of its own that
  ignores SIGHUP, so it is started through a small guard (`GUARD`, written under
  <state_dir>/ansible/bin/) that asks the kernel for a signal when our process dies
  (PR_SET_PDEATHSIG) and then kills the playbook's whole process group (workers and ssh
  included). A crash of `provision` stops the playbook at once;
- Ctrl-C while a playbook runs cancels it (ansible-runner's cancel callback kills its
  process group, status "canceled") and then raises KeyboardInterrupt, so the caller
  records the change as failed and the command stops as interrupted. The playbook's own
  session does not get the terminal's SIGINT, so without this it would run on unseen.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from provision.install.ansible_inputs import child_env, write_vars_file

PLAYBOOKS_DIR = Path(__file__).resolve().parents[2] / "playbooks"
PROJECT_SSH_ARGS = "-o ControlMaster=auto -o ControlPersist=120s -o ServerAliveInterval=15"
DEFAULT_SSH_ARGS = "-C -o ControlMaster=auto -o ControlPersist=60s"  # Ansible's own default
Settings = Literal["project", "defaults"]
PARENT_ENV = "PROVISION_PLAYBOOK_PARENT"

# Started by ansible-runner instead of ansible-playbook (its `binary`). Ansible's workers
# each start a session of their own, so killing the playbook's process group is not enough:
# the guard is a child subreaper (orphans of the tree come back to it) and on SIGTERM kills
# every descendant, then itself. The kernel sends it that SIGTERM when the process that
# started it dies (PR_SET_PDEATHSIG), SIGKILL included; `run()` sends it on Ctrl-C.
GUARD = """#!{python}
# Written by provision (provision/install/runner.py): ansible-playbook dies with provision.
import ctypes, os, signal, sys
def descendants():
    kids = {{}}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{{d}}/stat") as f:
                    kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [os.getpid()]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out
def kill_tree(*_):
    for _ in range(20):
        pids = descendants()
        if not pids:
            break
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        while True:  # reap what died here (orphans of the tree come back to us)
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
    os._exit(137)
signal.signal(signal.SIGTERM, kill_tree)
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
if os.getppid() != int(os.environ.pop("{parent_env}", "0") or 0):
    kill_tree()  # the starter died before the prctl
child = os.fork()
if child == 0:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.execvp("ansible-playbook", ["ansible-playbook", *sys.argv[1:]])
while True:
    pid, status = os.waitpid(-1, 0)
    if pid == child:
        break
code = os.waitstatus_to_exitcode(status)
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
raise SystemExit(code)
"""


def mitogen_env(strategy: str = "mitogen_linear") -> dict[str, str]:
    """Environment selecting a Mitogen strategy (pip install mitogen); ConfigError if absent."""
    try:
        import ansible_mitogen
    except ImportError as e:
        from provision.errors import ConfigError

        raise ConfigError("hosting.strategy names Mitogen, which is not installed.", "pip install mitogen") from e
    plugins = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY_PLUGINS": str(plugins), "ANSIBLE_STRATEGY": strategy}


def playbooks_dir() -> Path:
    """The playbooks: the checkout's `playbooks/`, or the copy shipped in the package."""
    shipped = Path(__file__).resolve().parents[1] / "playbooks"
    return PLAYBOOKS_DIR if PLAYBOOKS_DIR.is_dir() else shipped


@dataclass
class HostResult:
    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "changed": self.changed, "failed": self.failed,
                "unreachable": self.unreachable, "skipped": self.skipped, "rescued": self.rescued}


@dataclass
class TaskFailure:
    host: str
    task: str
    message: str
    unreachable: bool = False


@dataclass
class ProgressEvent:
    """One task result on one host: status is ok, changed, failed, unreachable or skipped."""

    host: str
    task: str
    status: str
    message: str = ""


@dataclass
class PlaybookResult:
    status: str  # successful | failed | timeout | canceled
    rc: int
    hosts: dict[str, HostResult] = field(default_factory=dict)
    failures: list[TaskFailure] = field(default_factory=list)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)  # set_stats per host
    results: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (host, task) -> res
    duration: float = 0.0
    private_dir: Path | None = None
    stdout_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    @property
    def changed(self) -> int:
        return sum(h.changed for h in self.hosts.values())

    def final_failure(self, host: str | None = None) -> TaskFailure | None:
        """The failure that stopped a host: the last one (earlier ones may have been rescued)."""
        for f in reversed(self.failures):
            if host is None or f.host == host:
                return f
        return None


def _message(res: dict[str, Any]) -> str:
    msg = res.get("msg") or res.get("stderr") or res.get("module_stderr") or ""
    if isinstance(msg, list):
        msg = "; ".join(str(m) for m in msg)
    return " ".join(str(msg).split())[:1000]


class AnsibleRunner:
    """Runs one playbook against the inventory with the project's settings (or Ansible's
    defaults, for the benchmark)."""

    def __init__(self, state_dir: Path, inventory: str, *, ssh_config: str = "", known_hosts: str = "",
                 forks: int = 10, timeout: int | None = None, settings: Settings = "project",
                 keep_runs: int = 50, strategy: str = "linear") -> None:
        self.state_dir = Path(state_dir)
        self.inventory = str(Path(inventory).expanduser().resolve())
        self.ssh_config = ssh_config
        self.known_hosts = known_hosts
        self.forks = forks
        self.timeout = timeout
        self.settings = settings
        self.keep_runs = keep_runs
        self.strategy = strategy

    def control_path_dir(self) -> Path:
        """Where SSH master connections live: named after the state dir and the pinning
        settings, so changing known_hosts or ssh_config never reuses a connection opened
        (and checked) before. Short, under the temp dir: a unix socket path has at most
        107 characters, and ssh adds 17 to the name while creating it."""
        key = f"{self.state_dir.resolve()}\0{self.ssh_config}\0{self.known_hosts}"
        base = Path(tempfile.gettempdir()) / f"kp-cp-{os.getuid()}"
        base.mkdir(mode=0o700, exist_ok=True)
        st = base.lstat()
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            from provision.errors import ConfigError

            raise ConfigError(f"{base} is not a private directory of this user (SSH control sockets go there).",
                              f"Remove it: rm -rf {base}")
        cp_dir = base / hashlib.sha256(key.encode()).hexdigest()[:12]
        cp_dir.mkdir(mode=0o700, exist_ok=True)
        return cp_dir

    def envvars(self) -> dict[str, str]:
        pb = playbooks_dir()
        ssh_args = PROJECT_SSH_ARGS if self.settings == "project" else DEFAULT_SSH_ARGS
        if self.ssh_config:
            ssh_args += f" -F {Path(self.ssh_config).expanduser().resolve()}"
        # Only the pinned keys, always checked: without hosting.known_hosts no key is
        # accepted (never ~/.ssh/known_hosts, nor what the ssh_config says).
        kh = Path(self.known_hosts).expanduser().resolve() if self.known_hosts else Path("/dev/null")
        ssh_args += f" -o UserKnownHostsFile={kh} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes"
        # A master connection is never shared between pinning settings: the directory is
        # named after them, so changing known_hosts forces a fresh, checked handshake.
        cp_dir = self.control_path_dir()
        cfg = "ansible.cfg" if self.settings == "project" else "ansible-defaults.cfg"
        env = {
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "ANSIBLE_CONFIG": str(pb / cfg),
            "ANSIBLE_ROLES_PATH": str(pb / "roles"),
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_SSH_ARGS": ssh_args,
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(cp_dir),
            "ANSIBLE_LOCAL_TEMP": str(self.state_dir / "ansible" / "tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
        }
        if self.strategy.startswith("mitogen"):
            env.update(mitogen_env(self.strategy))
        return env

    def guard(self) -> Path:
        """The guard script (see GUARD), written once per state dir and Python."""
        text = GUARD.format(python=sys.executable, parent_env=PARENT_ENV)
        path = self.state_dir / "ansible" / "bin" / "ansible-playbook-guard"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            if path.read_text() == text:
                return path
        except OSError:
            pass
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(text)
        tmp.chmod(0o700)
        os.replace(tmp, path)
        return path

    def run(self, playbook: str, extravars: dict[str, Any], *, limit: str | None = None,
            on_event: Callable[[ProgressEvent], None] | None = None,
            cancel: Callable[[], bool] | None = None) -> PlaybookResult:
        from ansible_runner import Runner, RunnerConfig

        root = self.state_dir / "ansible" / "runs"
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._prune(root)
        ident = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        private = root / ident
        private.mkdir(mode=0o700)
        result = PlaybookResult(status="failed", rc=-1, private_dir=private)

        def handler(ev: dict[str, Any]) -> bool:
            self._on_event(ev, result, on_event)
            return True

        # Ctrl-C: note it, let ansible-runner cancel the playbook, then raise it here.
        interrupted: list[int] = []

        def on_sigint(signum: int, frame: Any) -> None:
            interrupted.append(signum)

        def cancelled() -> bool:
            if interrupted or (cancel and cancel()):
                self._stop_guards()  # the whole tree; ansible-runner then kills the group
                return True
            return False

        catch = (threading.current_thread() is threading.main_thread()
                 and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
        previous = signal.signal(signal.SIGINT, on_sigint) if catch else None
        started = time.monotonic()
        try:
            # Every value as data (see ansible_inputs): one unsafe vars file, `-e @FILE`.
            # As an extra var, the control path beats an inventory's ansible_control_path_dir.
            vars_file = write_vars_file(private, {**extravars,
                                                  "ansible_control_path_dir": str(self.control_path_dir())})
            ours = {**self.envvars(), PARENT_ENV: str(os.getpid())}
            rc = RunnerConfig(
                private_data_dir=str(private), project_dir=str(playbooks_dir()), playbook=playbook,
                inventory=self.inventory, limit=limit, forks=self.forks,
                # The guard instead of ansible-playbook: ansible-runner then adds no playbook
                # argument of its own ("raw" mode), so it goes first on the command line.
                binary=str(self.guard()),
                cmdline=f"{shlex.quote(playbook)} -e {shlex.quote('@' + str(vars_file))}",
                envvars=ours, suppress_env_files=True, quiet=True, timeout=self.timeout,
                ident="run", settings={"pexpect_timeout": 1},  # how often Ctrl-C is looked at
            )
            rc.prepare()
            rc.env = child_env(rc.env, ours)  # before Runner writes it to artifacts/run/command
            r = Runner(rc, event_handler=handler, cancel_callback=cancelled)
            r.run()
        finally:
            if catch:
                signal.signal(signal.SIGINT, previous)
        result.duration = time.monotonic() - started
        if interrupted:
            raise KeyboardInterrupt(f"{playbook} was cancelled by Ctrl-C after {result.duration:.0f} s "
                                    f"(status {r.status})")
        result.status, result.rc = r.status, r.rc if r.rc is not None else -1
        if r.status != "successful" or not result.hosts:
            try:
                result.stdout_tail = r.stdout.read()[-3000:]
            except (OSError, ValueError, AttributeError):
                result.stdout_tail = ""
        return result

    def _stop_guards(self, wait: float = 5.0) -> None:
        """SIGTERM to our guards (see GUARD): each kills its playbook's process tree."""
        me, guard = str(os.getpid()), str(self.guard())
        pids = []
        for d in os.listdir("/proc"):
            try:
                ppid = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1]
                if ppid == me and guard.encode() in Path(f"/proc/{d}/cmdline").read_bytes():
                    pids.append(int(d))
            except (OSError, ValueError, IndexError):
                continue
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            try:  # our child: a zombie once it is done
                pids = [p for p in pids if Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
            except OSError:
                pids = []
            time.sleep(0.05)

    @staticmethod
    def _on_event(ev: dict[str, Any], result: PlaybookResult,
                  on_event: Callable[[ProgressEvent], None] | None) -> None:
        kind = ev.get("event", "")
        data = ev.get("event_data", {}) or {}
        host, task = data.get("host", ""), data.get("task", "")
        res = data.get("res") or {}
        status = None
        if kind == "runner_on_ok":
            status = "changed" if res.get("changed") else "ok"
            result.results[(host, task)] = res
        elif kind == "runner_on_failed":
            status = "failed"
            if not data.get("ignore_errors"):
                result.failures.append(TaskFailure(host, task, _message(res)))
        elif kind == "runner_on_unreachable":
            status = "unreachable"
            result.failures.append(TaskFailure(host, task, _message(res), unreachable=True))
        elif kind == "runner_on_skipped":
            status = "skipped"
        elif kind == "playbook_on_stats":
            for key, attr in (("ok", "ok"), ("changed", "changed"), ("failures", "failed"),
                              ("dark", "unreachable"), ("skipped", "skipped"), ("rescued", "rescued")):
                for h, n in (data.get(key) or {}).items():
                    setattr(result.hosts.setdefault(h, HostResult(h)), attr, int(n))
            artifact = data.get("artifact_data") or {}
            result.stats = {h: v for h, v in artifact.items() if isinstance(v, dict)}
        if status and on_event:
            on_event(ProgressEvent(host, task, status, _message(res) if status in ("failed", "unreachable") else ""))

    def _prune(self, root: Path) -> None:
        # AWX's users' main complaint is unbounded job-event storage: keep the last N runs.
        runs = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name)
        for old in runs[: max(0, len(runs) - self.keep_runs)]:
            shutil.rmtree(old, ignore_errors=True)
