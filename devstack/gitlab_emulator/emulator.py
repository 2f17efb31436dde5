"""`GitLabEmulator`: start and stop the HTTP server (and sshd), reset state, hand out clients."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from .admin import AdminHelpers
from .app import App, Settings
from .faults import CallLog, Faults
from .git_store import GitRepos
from .hooks import write_hooks, write_shell
from .models import ALL_SCOPES
from .routing import encode_path
from .server import EmulatorServer
from .ssh_server import SshServer
from .state import EmulatorState

ROOT_USERNAME = "root"


class GitLabEmulator(AdminHelpers):
    """A GitLab REST v4 emulator on loopback with real git repositories behind it.

    `start()` binds 127.0.0.1 on `port` (0: a free port) and, with `ssh=True`, starts an
    sshd for deploy-key clones. State lives under `state_dir` (a temporary directory when
    None; kept and reloaded from `state.json` when given). The `root` admin user and its
    token (`root_token`, all scopes) exist from the start.
    """

    def __init__(self, state_dir: Path | str | None = None, port: int = 0, host: str = "127.0.0.1",
                 ssh: bool = True, ssh_port: int = 0, settings: Settings | None = None, verbose: bool = False) -> None:
        if not host.startswith("127.") and host != "::1":
            raise ValueError("the emulator listens on loopback only")
        self._tmp = None if state_dir is not None else tempfile.mkdtemp(prefix="gitlab-emulator-")
        self.state_dir = Path(state_dir or self._tmp or "").resolve()
        self.host = host
        self.port = port
        self.verbose = verbose
        self.faults = Faults()
        self.calls = CallLog()
        self.internal_errors: list[str] = []
        self.settings = settings or Settings()
        self._initial_settings = dataclasses.replace(self.settings)
        self._ssh_wanted = ssh
        self._ssh_port = ssh_port
        self.ssh: SshServer | None = None
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None
        self.app = App(EmulatorState(), GitRepos(self.state_dir / "repositories", self.state_dir / "hooks"), self.settings)
        self.root_token = ""

    # -- life cycle -------------------------------------------------------------------------

    @property
    def host_port(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:40123` (python-gitlab adds `/api/v4`)."""
        return f"http://{self.host_port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/v4"

    def start(self) -> GitLabEmulator:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        write_hooks(self.state_dir / "hooks")
        state_file = self.state_dir / "state.json"
        self.app.state_file = state_file
        if state_file.exists():
            self.app.state.load(state_file)
            root = self.app.state.user_by_username(ROOT_USERNAME)
            self.root_token = next(t.token for t in self.app.state.tokens.values() if root and t.user_id == root.id)
        self._server = EmulatorServer((self.host, self.port), self)
        self.port = int(self._server.server_address[1])
        self.app.web_url = self.url
        if not self.root_token:
            self._seed()
        self._thread = threading.Thread(target=self._server.serve_forever, name="gitlab-emulator", daemon=True)
        self._thread.start()
        if self._ssh_wanted:
            shell = self.state_dir / "bin" / "gitlab-shell"
            write_shell(shell, self.url, self.app.internal_secret)
            self.ssh = SshServer(self.state_dir / "ssh", shell, self.host, self._ssh_port)
            try:
                self.ssh.start()
            except Exception:
                self.stop()
                raise
            self.settings.ssh_user, self.settings.ssh_host, self.settings.ssh_port = self.ssh.user, self.host, self.ssh.port
            self.app.keys_changed = self._write_keys
            self._write_keys()
        return self

    def stop(self) -> None:
        if self.ssh is not None:
            self.ssh.stop()
            self.ssh = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> GitLabEmulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _seed(self) -> None:
        st = self.app.state
        root = st.add_user(ROOT_USERNAME, "Administrator", "admin@example.test", is_admin=True)
        self.root_token = st.add_token(root, sorted(ALL_SCOPES), name="emulator-root").token
        self.app.save()

    def _write_keys(self) -> None:
        if self.ssh is not None:
            st = self.app.state
            linked = {k for p in st.projects.values() for k in p.deploy_keys}
            self.ssh.write_keys([(k.id, k.key) for k in st.deploy_keys.values() if k.id in linked])

    def reset(self) -> None:
        """Forget every user, group, project and repository; new root token; no faults; no calls;
        the settings given at construction back (the SSH details stay)."""
        with self.app.state.lock:
            for f in dataclasses.fields(Settings):
                if not f.name.startswith("ssh_"):
                    setattr(self.settings, f.name, getattr(self._initial_settings, f.name))
            # Wipe the whole directory: ids restart at 1 and `git init` would reuse a stale repository.
            shutil.rmtree(self.app.repos.root, ignore_errors=True)
            self.app.repos.root.mkdir(parents=True)
            self.app.state.clear()
            self.root_token = ""
            self._seed()
            self._write_keys()
        self.faults.clear()
        self.calls.reset()
        self.internal_errors.clear()
        self.app.pipelines.clear()

    # -- for clients --------------------------------------------------------------------------

    def client(self, token: str | None = None, **kwargs: Any) -> Any:
        """A python-gitlab client for this emulator (root's token unless another is given)."""
        import gitlab

        return gitlab.Gitlab(self.url, private_token=token or self.root_token, **kwargs)

    def http_clone_url(self, project_path: str, token: str | None = None, username: str = "oauth2") -> str:
        auth = f"{username}:{token}@" if token else ""
        return f"http://{auth}{self.host_port}/{project_path}.git"

    def ssh_clone_url(self, project_path: str) -> str:
        if self.ssh is None:
            raise RuntimeError("the emulator was started without ssh")
        return f"ssh://{self.ssh.user}@{self.host}:{self.ssh.port}/{project_path}.git"

    @property
    def ssh_known_hosts(self) -> str:
        """The known_hosts line that pins this emulator's sshd host key."""
        if self.ssh is None:
            raise RuntimeError("the emulator was started without ssh")
        return self.ssh.known_hosts_line

    @staticmethod
    def encode(path: str) -> str:
        """`pemko/disdik` -> `pemko%2Fdisdik`, as `:id` in a URL must be."""
        return encode_path(path)
