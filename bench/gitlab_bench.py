"""Benchmark: GitLab repositories for N requests against the emulator (default 200).

    .venv/bin/python bench/gitlab_bench.py [--requests 200] [--per-page 100]
    .venv/bin/python bench/gitlab_bench.py --smoke   # 5 requests, in seconds (CI)

Measures, with the emulator's own call counters: API reads and writes per request and the
wall time of (1) the first apply of every request, (2) a second apply of every request (must
write nothing), and the same two runs with the anchors' approach (one lookup per resource,
then a write when it is missing; the way terraform-provider-gitlab, gitlabform and
Ansible's gitlab modules work), computed in the same run on fresh projects. Prints a table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devstack.gitlab_emulator import GitLabEmulator  # noqa: E402
from devstack.gitlab_target import Recorder, Target, make_config, make_request, make_spec  # noqa: E402
from provision.gitlab import GitLabProvider  # noqa: E402
from provision.gitlab.client import GitLabClient, enc  # noqa: E402
from provision.gitlab.seed import seed_files  # noqa: E402

USERS = ["budi.dev", "siti_lead", "kominfo.ops"]


def setup(emu: GitLabEmulator, tmp: Path) -> tuple[Target, str]:
    emu.create_user("provisioner")
    token = emu.create_token("provisioner", ["api"])
    for u in USERS:
        emu.create_user(u)
    emu.create_group("pemko-batam", owner="provisioner")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "k")], check=True)
    target = Target("emulator", emu.url, token, "pemko-batam", USERS, emu.client())
    return target, (tmp / "k.pub").read_text().strip()


def ours(config: Any, per_page: int) -> Callable[[Any, Any], None]:
    def run(request: Any, spec: Any) -> None:
        provider = GitLabProvider.from_config(config, per_page=per_page)  # one CLI run: one token check
        plan = provider.plan(request, spec)
        provider.apply(plan, Recorder())
    return run


def anchors(config: Any, per_page: int) -> Callable[[Any, Any], None]:
    """One lookup per resource, then a write if it is missing (the per-resource model)."""
    def run(request: Any, spec: Any) -> None:
        provider = GitLabProvider.from_config(config, per_page=per_page)
        d = provider.desired(request, spec)
        c: GitLabClient = provider.client
        c.get("/user", "user")
        group = c.get(f"/groups/{enc(d.group_full_path)}", "group", with_projects="false")
        if group is None:
            root = c.get(f"/groups/{enc(d.root_group)}", "root", with_projects="false")
            group = c.post("/groups", "group", {"name": d.group_name, "path": d.group_path, "parent_id": root["id"]})
        project = c.get(f"/projects/{enc(d.full_path)}", "project")
        if project is None:
            project = c.post("/projects", "project", {"name": d.project_name, "path": d.project_path,
                                                      "namespace_id": group["id"], "description": d.description,
                                                      "initialize_with_readme": True, "default_branch": d.default_branch})
        pid = project["id"]
        if c.get(f"/projects/{pid}/protected_branches/{enc(d.default_branch)}", "protection") is None:
            c.post(f"/projects/{pid}/protected_branches", "protection", {"name": d.default_branch})
        for username, level in d.members.items():
            user = c.list("/users", "user", username=username)[0]
            if c.get(f"/projects/{pid}/members/{user['id']}", "member") is None:
                c.post(f"/projects/{pid}/members", "member", {"user_id": user["id"], "access_level": level})
        keys = c.list(f"/projects/{pid}/deploy_keys", "keys")
        if not any(k["title"] == d.deploy_key_title for k in keys):
            c.post(f"/projects/{pid}/deploy_keys", "key", {"title": d.deploy_key_title, "key": d.deploy_key})
        for key, var in d.variables.items():
            if c.get(f"/projects/{pid}/variables/{key}", "variable") is None:
                c.post(f"/projects/{pid}/variables", "variable", {"key": key, "value": var.value})
        for path, content in seed_files(d).items():
            if c.get(f"/projects/{pid}/repository/files/{enc(path)}", "file", ref=d.default_branch) is None:
                c.post(f"/projects/{pid}/repository/files/{enc(path)}", "file",
                       {"branch": d.default_branch, "content": content, "commit_message": f"add {path}"})
    return run


def phase(emu: GitLabEmulator, jobs: list[tuple[Any, Any]], run: Callable[[Any, Any], None],
          name: str = "") -> dict[str, float]:
    emu.calls.reset()
    start = time.perf_counter()
    for request, spec in jobs:
        run(request, spec)
    wall = time.perf_counter() - start
    print(f"  {name}: {wall:.1f} s", file=sys.stderr, flush=True)
    n = len(jobs)
    return {"reads": emu.calls.reads / n, "writes": emu.calls.writes / n, "total_writes": emu.calls.writes,
            "wall": wall, "ms_per_request": 1000 * wall / n}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--per-page", type=int, default=100)
    ap.add_argument("--smoke", action="store_true", help="a small size that runs in seconds (CI)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.requests = 5
    with tempfile.TemporaryDirectory(prefix="gitlab-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        emu = GitLabEmulator(tmp / "emulator", ssh=False).start()
        # The emulator rewrites state.json after every change (O(projects) each): off here,
        # so the wall time measures the provider and GitLab's answers, not that file.
        emu.app.state_file = None
        try:
            target, key = setup(emu, tmp)
            config = make_config(target, tmp, team=["kominfo.ops"], deploy_key=key,
                                 variables={"APP_STAGE": "staging"}, max_retries=2)
            members = [("budi.dev", "developer"), ("siti_lead", "maintainer")]

            def jobs(prefix: str) -> list[tuple[Any, Any]]:
                return [(make_request(f"REQ-2026-{i + 1:04d}", f"opd{i % 20}"), make_spec(f"{prefix}{i}", members))
                        for i in range(args.requests)]

            mine, theirs = jobs("app"), jobs("anchor")
            runs = [("ours: first apply", mine, ours), ("ours: second apply (no change)", mine, ours),
                    ("anchors: first run", theirs, anchors), ("anchors: second run (no change)", theirs, anchors)]
            rows = [(name, phase(emu, js, make(config, args.per_page), name)) for name, js, make in runs]
        finally:
            emu.stop()
    print(f"{args.requests} requests, 2 spec members + 1 team maintainer, deploy key, 2 variables, 6 seed files")
    print(f"{'run':34} {'reads/req':>10} {'writes/req':>11} {'writes':>7} {'wall s':>8} {'ms/req':>8}")
    for name, r in rows:
        print(f"{name:34} {r['reads']:10.1f} {r['writes']:11.1f} {int(r['total_writes']):7d} {r['wall']:8.2f} {r['ms_per_request']:8.1f}")
    ok = rows[1][1]["total_writes"] == 0
    print("second apply wrote nothing" if ok else "FAIL: the second apply wrote")
    first, anchor = rows[0][1], rows[2][1]
    if first["writes"] <= 0 or anchor["writes"] <= 0 or anchor["reads"] <= 0:
        print("FAIL: a first run wrote nothing: the comparison measured nothing", file=sys.stderr)
        ok = False
    else:
        print(f"anchors / ours, first apply: reads x{anchor['reads'] / max(first['reads'], 0.1):.1f}, "
              f"wall x{anchor['wall'] / first['wall']:.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
