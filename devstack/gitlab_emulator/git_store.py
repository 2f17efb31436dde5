"""Bare git repositories on disk, read and written with git plumbing only."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ZERO = "0" * 40
_LOG_FORMAT = "%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%s%x00%B%x1e"


class GitError(Exception):
    pass


class RefUpdateRace(GitError):
    """The branch moved between reading it and writing it (GitLab answers 400 with this text)."""


@dataclass
class FileAction:
    action: str  # create, update, delete
    path: str
    content: bytes = b""
    executable: bool = False


class GitRepos:
    """One bare repository per project at `<root>/<project id>.git`."""

    def __init__(self, root: Path, hooks_dir: Path | None = None) -> None:
        self.root = root
        self.hooks_dir = hooks_dir
        root.mkdir(parents=True, exist_ok=True)

    def path(self, project_id: int) -> Path:
        return self.root / f"{project_id}.git"

    def git(self, project_id: int, *args: str, input: bytes | None = None, env: dict[str, str] | None = None, check: bool = True) -> bytes:
        full_env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(self.root), **(env or {})}
        proc = subprocess.run(
            ["git", "--git-dir", str(self.path(project_id)), *args],
            input=input,
            capture_output=True,
            env=full_env,
        )
        if check and proc.returncode != 0:
            raise GitError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout

    def init(self, project_id: int, branch: str) -> None:
        path = self.path(project_id)
        subprocess.run(["git", "init", "-q", "--bare", f"--initial-branch={branch}", str(path)], check=True, capture_output=True)
        with (path / "config").open("a") as config:  # what `git config` would write, without two more processes
            config.write("[http]\n\treceivepack = true\n[receive]\n\tdenyDeleteCurrent = false\n")
        if self.hooks_dir is not None:
            hooks = path / "hooks"
            shutil.rmtree(hooks, ignore_errors=True)
            hooks.symlink_to(self.hooks_dir, target_is_directory=True)

    def remove(self, project_id: int) -> None:
        shutil.rmtree(self.path(project_id), ignore_errors=True)

    # -- reading ------------------------------------------------------------------------

    def head_branch(self, project_id: int) -> str:
        head = (self.path(project_id) / "HEAD").read_text().strip()
        return head.removeprefix("ref: refs/heads/")

    def set_head(self, project_id: int, branch: str) -> None:
        self.git(project_id, "symbolic-ref", "HEAD", f"refs/heads/{branch}")

    def branches(self, project_id: int) -> dict[str, str]:
        """Branch name -> sha, read from packed-refs and loose refs (no process: this is on every answer)."""
        path = self.path(project_id)
        found: dict[str, str] = {}
        packed = path / "packed-refs"
        if packed.exists():
            for line in packed.read_text().splitlines():
                sha, _, ref = line.partition(" ")
                if ref.startswith("refs/heads/") and len(sha) == 40:
                    found[ref[len("refs/heads/") :]] = sha
        heads = path / "refs" / "heads"
        for ref in heads.rglob("*"):
            if ref.is_file() and not ref.name.endswith(".lock"):
                sha = ref.read_text().strip()
                if len(sha) == 40:
                    found[ref.relative_to(heads).as_posix()] = sha
        return found

    def resolve(self, project_id: int, ref: str) -> str | None:
        out = self.git(project_id, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False).decode().strip()
        return out or None

    def is_ancestor(self, project_id: int, old: str, new: str) -> bool:
        proc = subprocess.run(["git", "--git-dir", str(self.path(project_id)), "merge-base", "--is-ancestor", old, new], capture_output=True)
        return proc.returncode == 0

    def commits(self, project_id: int, ref: str, path: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        args = ["log", f"--format={_LOG_FORMAT}"]
        if limit:
            args.append(f"-{limit}")
        args.append(ref)
        if path:
            args += ["--", path]
        out = self.git(project_id, *args, check=False).decode(errors="replace")
        return [_commit_json(rec) for rec in out.split("\x1e") if rec.strip("\n")]

    def commit(self, project_id: int, sha: str) -> dict[str, Any] | None:
        found = self.commits(project_id, sha, limit=1) if self.resolve(project_id, sha) else []
        return found[0] if found else None

    def entry(self, project_id: int, ref: str, path: str) -> tuple[str, str, str] | None:
        """(mode, type, sha) of `path` at `ref`, or None."""
        out = self.git(project_id, "ls-tree", ref, "--", path, check=False).decode()
        for line in out.splitlines():
            meta, name = line.split("\t", 1)
            if name == path:
                mode, kind, sha = meta.split()
                return mode, kind, sha
        return None

    def blob(self, project_id: int, sha: str) -> bytes:
        return self.git(project_id, "cat-file", "blob", sha)

    def tree(self, project_id: int, ref: str, path: str = "", recursive: bool = False) -> list[dict[str, Any]]:
        args = ["ls-tree"] + (["-r", "-t"] if recursive else []) + [f"{ref}:{path}" if path else ref]
        out = self.git(project_id, *args, check=False).decode()
        result = []
        for line in out.splitlines():
            meta, name = line.split("\t", 1)
            mode, kind, sha = meta.split()
            full = f"{path.rstrip('/')}/{name}" if path else name
            result.append({"id": sha, "name": name.rsplit("/", 1)[-1], "type": kind, "path": full, "mode": mode})
        return result

    # -- writing ------------------------------------------------------------------------

    def update_ref(self, project_id: int, branch: str, new: str, old: str) -> None:
        """Move a branch only if it still points at `old` (ZERO: must not exist)."""
        try:
            self.git(project_id, "update-ref", f"refs/heads/{branch}", new, old)
        except GitError as e:
            raise RefUpdateRace(f"Could not update refs/heads/{branch}. Please refresh and try again") from e

    def delete_ref(self, project_id: int, branch: str, old: str) -> None:
        self.git(project_id, "update-ref", "-d", f"refs/heads/{branch}", old)

    def commit_actions(
        self,
        project_id: int,
        branch: str,
        parent: str | None,
        actions: list[FileAction],
        message: str,
        author_name: str,
        author_email: str,
    ) -> str:
        """Write one commit with `actions` on top of `parent` and move `branch` to it."""
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self.git(project_id, *(["read-tree", parent] if parent else ["read-tree", "--empty"]), env=env)
            writes = [a for a in actions if a.action != "delete"]
            for n, act in enumerate(writes):
                (Path(tmp) / f"blob{n}").write_bytes(act.content)
            paths = "".join(f"{Path(tmp) / f'blob{n}'}\n" for n in range(len(writes)))
            shas = self.git(project_id, "hash-object", "-w", "--stdin-paths", input=paths.encode()).decode().split()
            lines = [f"0 {ZERO}\t{a.path}\n" for a in actions if a.action == "delete"]
            lines += [f"{'100755' if a.executable else '100644'} {sha}\t{a.path}\n" for a, sha in zip(writes, shas)]
            self.git(project_id, "update-index", "--index-info", input="".join(lines).encode(), env=env)
            tree = self.git(project_id, "write-tree", env=env).decode().strip()
        who = {
            "GIT_AUTHOR_NAME": author_name,
            "GIT_AUTHOR_EMAIL": author_email,
            "GIT_COMMITTER_NAME": author_name,
            "GIT_COMMITTER_EMAIL": author_email,
        }
        args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
        sha = self.git(project_id, *args, env=who).decode().strip()
        self.update_ref(project_id, branch, sha, parent or ZERO)
        return sha


def _commit_json(record: str) -> dict[str, Any]:
    sha, tree, parents, an, ae, ad, cn, ce, cd, title, body = record.lstrip("\n").split("\x00")
    return {
        "id": sha,
        "short_id": sha[:8],
        "title": title,
        "message": body,
        "author_name": an,
        "author_email": ae,
        "authored_date": ad,
        "committer_name": cn,
        "committer_email": ce,
        "committed_date": cd,
        "created_at": cd,
        "parent_ids": parents.split(),
        "tree_id": tree,
    }
