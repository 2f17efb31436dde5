"""Admin helpers: seed users, tokens, groups and projects, and plant drift, straight into the state.

They make no HTTP calls, so they never show in the call counters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .api_projects import first_branch_created, protect, remove_project
from .git_store import FileAction
from .models import OWNER, Member, Namespace, Project, User

if TYPE_CHECKING:
    from .app import App


class AdminHelpers:
    app: App

    def create_user(self, username: str, name: str | None = None, email: str | None = None, admin: bool = False) -> User:
        with self.app.state.lock:
            user = self.app.state.add_user(username, name, email, admin)
            self.app.save()
            return user

    def create_token(self, username: str, scopes: Sequence[str] = ("api",), name: str = "test", expires_at: str | None = None) -> str:
        """A personal access token for `username` with exactly `scopes`."""
        with self.app.state.lock:
            user = self._user(username)
            token = self.app.state.add_token(user, list(scopes), name, expires_at).token
            self.app.save()
            return token

    def revoke_token(self, token: str) -> None:
        with self.app.state.lock:
            self.app.state.tokens[token].revoked = True
            self.app.save()

    def block_user(self, username: str) -> None:
        with self.app.state.lock:
            self._user(username).state = "blocked"
            self.app.save()

    def create_group(self, path: str, name: str | None = None, parent: str | None = None, owner: str | None = None,
                     visibility: str = "private") -> Namespace:
        """A group (`parent`: full path of its parent) with `owner` as Owner if given."""
        st = self.app.state
        with st.lock:
            parent_ns = self._namespace(parent) if parent else None
            ns = Namespace(st.next_id("namespace"), name or path, path, parent_id=parent_ns.id if parent_ns else None, visibility=visibility)
            if owner:
                user = self._user(owner)
                ns.members[user.id] = Member(user.id, OWNER, created_by=user.id)
            st.namespaces[ns.id] = ns
            self.app.save()
            return ns

    def set_member(self, path: str, username: str, access_level: int | None) -> None:
        """Make `username` a direct member of the project or group at `path` (None: remove)."""
        with self.app.state.lock:
            user = self._user(username)
            project = self.app.state.project_by_path(path)
            members = project.members if project else self._namespace(path).members
            if access_level is None:
                members.pop(user.id, None)
            else:
                members[user.id] = Member(user.id, access_level)
            self.app.save()

    def project(self, path: str) -> Project:
        project = self.app.state.project_by_path(path)
        if project is None:
            raise KeyError(f"no project {path!r}")
        return project

    def create_project(self, path: str, readme: bool = True, default_branch: str = "main", visibility: str = "private") -> Project:
        """A project at full path `path` in an existing namespace, like the API with initialize_with_readme."""
        st = self.app.state
        with st.lock:
            ns_path, _, name = path.rpartition("/")
            ns = self._namespace(ns_path)
            root = st.user_by_username("root")
            assert root is not None
            project = Project(st.next_id("project"), name, name, ns.id, root.id, visibility=visibility)
            st.projects[project.id] = project
            self.app.repos.init(project.id, default_branch)
            if readme:
                self.app.repos.commit_actions(project.id, default_branch, None, [FileAction("create", "README.md", f"# {name}\n".encode())],
                                              "Initial commit", "Administrator", "admin@example.test")
                first_branch_created(self.app, project, default_branch)
            self.app.save()
            return project

    # -- drift ------------------------------------------------------------------------------

    def archive_project(self, path: str, archived: bool = True) -> None:
        with self.app.state.lock:
            self.project(path).archived = archived
            self.app.save()

    def unprotect_branch(self, path: str, branch: str) -> None:
        with self.app.state.lock:
            project = self.project(path)
            project.protected_branches = [b for b in project.protected_branches if b.name != branch]
            self.app.save()

    def protect_branch(self, path: str, branch: str, push: int = 40, merge: int = 40, allow_force_push: bool = False) -> None:
        with self.app.state.lock:
            project = self.project(path)
            project.protected_branches = [b for b in project.protected_branches if b.name != branch]
            protect(self.app, project, branch, push, merge, allow_force_push=allow_force_push)
            self.app.save()

    def set_ci_config_path(self, path: str, value: str | None) -> None:
        """A maintainer changes Settings > CI/CD > CI/CD configuration file by hand."""
        with self.app.state.lock:
            self.project(path).ci_config_path = value or None
            self.app.save()

    def protect_tag(self, path: str, name: str, create: int = 40) -> None:
        from .models import AccessLevel, ProtectedTag

        with self.app.state.lock:
            st = self.app.state
            project = self.project(path)
            project.protected_tags = [t for t in project.protected_tags if t.name != name]
            project.protected_tags.append(ProtectedTag(st.next_id("protected_tag"), name,
                                                       [AccessLevel(st.next_id("access_level"), create)]))
            self.app.save()

    def unprotect_tag(self, path: str, name: str) -> None:
        with self.app.state.lock:
            project = self.project(path)
            project.protected_tags = [t for t in project.protected_tags if t.name != name]
            self.app.save()

    def register_runner(self, description: str, tags: Sequence[str], projects: Sequence[str],
                        protected: bool = True, locked: bool = True, run_untagged: bool = False) -> int:
        """A project runner enabled for `projects` (as `gitlab-runner register` with a runner token)."""
        from .models import Runner

        with self.app.state.lock:
            st = self.app.state
            runner = Runner(st.next_id("runner"), description, list(tags),
                            "ref_protected" if protected else "not_protected", locked, run_untagged,
                            project_ids=[self.project(p).id for p in projects])
            st.runners[runner.id] = runner
            self.app.save()
            return runner.id

    def set_runner(self, runner_id: int, **changes: Any) -> None:
        with self.app.state.lock:
            runner = self.app.state.runners[runner_id]
            for k, v in changes.items():
                setattr(runner, k, v)
            self.app.save()

    @property
    def pipelines(self) -> list[Any]:
        """Every pipeline a push created since the last reset (devstack/gitlab_emulator/pipelines.py)."""
        return self.app.pipelines

    def commit_file(self, path: str, file_path: str, content: str | bytes | None, branch: str | None = None,
                    message: str = "Change outside the toolkit") -> str:
        """Commit `content` to `file_path` (None: delete it) on `branch`, bypassing every rule; returns the sha."""
        project = self.project(path)
        repos = self.app.repos
        branch = branch or repos.head_branch(project.id)
        parent = repos.branches(project.id).get(branch)
        data = content.encode() if isinstance(content, str) else content
        exists = parent is not None and repos.entry(project.id, parent, file_path) is not None
        action = "delete" if data is None else ("update" if exists else "create")
        return repos.commit_actions(project.id, branch, parent, [FileAction(action, file_path, data or b"")], message,
                                    "Someone Else", "someone@example.test")

    def read_file(self, path: str, file_path: str, ref: str | None = None) -> bytes | None:
        project = self.project(path)
        ref = ref or self.app.repos.head_branch(project.id)
        entry = self.app.repos.entry(project.id, ref, file_path) if self.app.repos.resolve(project.id, ref) else None
        return self.app.repos.blob(project.id, entry[2]) if entry else None

    def purge_deleted(self) -> int:
        """Finish the delayed deletion of every project marked for deletion; returns how many went."""
        with self.app.state.lock:
            doomed = [p for p in self.app.state.projects.values() if p.marked_for_deletion_on]
            for project in doomed:
                remove_project(self.app, project)
            self.app.save()
            return len(doomed)

    def repository_path(self, path: str) -> str:
        return str(self.app.repos.path(self.project(path).id))

    # -- internals ----------------------------------------------------------------------------

    def _user(self, username: str) -> User:
        user = self.app.state.user_by_username(username)
        if user is None:
            raise KeyError(f"no user {username!r}")
        return user

    def _namespace(self, path: str) -> Namespace:
        ns = self.app.state.namespace_by_path(path)
        if ns is None:
            raise KeyError(f"no namespace {path!r}")
        return ns


