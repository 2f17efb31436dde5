"""The import layers (docs/development.md, "Layers"): the core never imports the CLI, click,
the sandbox (`devstack`) or the tests; a provider package never imports another. Nothing
outside tests/ (bench/, scripts/, devstack/) imports `tests`, and the wheel leaves devstack out.

Every import counts, function-local ones too (they hide the real graph). Today's known
violations are listed below, each with why it is there; the test fails on a new one, and
on a listed one that is gone (delete its line), so the list can only shrink."""

from __future__ import annotations

import ast
import fnmatch
import tomllib
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROVIDERS = ("provision.gitlab", "provision.dns", "provision.hosting", "provision.install")
FORBIDDEN_IN_CORE = ("click", "provision.cli", "devstack", "tests")

# (importing module, imported module): why it is still there.
KNOWN: dict[tuple[str, str], str] = {
    # The inventory and the Ansible runner live in install/ and hosting uses them: they go
    # to provision/servers/ (one way to reach a server, issue 14 item 4).
    ("provision.hosting.provider", "provision.install"): "inventory, make_runner",
    # A CI job's proof (protected tag, project of the pipeline) is asked of GitLab: the
    # client goes below both providers when GitLab access is shared (issue 14 item 4).
    ("provision.install.ci", "provision.gitlab"): "project_info, GitLabClient, tag_matches",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports (absolute names; `from a import b` counts a.b too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations() -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for path in sorted((ROOT / "provision").rglob("*.py")):
        me = module_name(path)
        if within(me, "provision.cli"):
            continue
        mine = next((p for p in PROVIDERS if within(me, p)), None)
        for name in sorted(imports(path)):
            bad = next((f for f in FORBIDDEN_IN_CORE if within(name, f)), None)
            if bad:
                found[(me, bad)] = f"the core imports {bad}"
            other = next((p for p in PROVIDERS if within(name, p)), None)
            if mine and other and other != mine:
                found.setdefault((me, other), f"provider {mine} imports provider {other}")
    return found


def test_the_parser_sees_function_local_and_relative_imports(tmp_path: Path) -> None:
    src = ROOT / "provision" / "provider.py"
    assert "provision.plan" in imports(src) and "provision.errors.ProvisionError" in imports(src)
    local = ROOT / "provision" / "pipeline.py"  # imports the providers inside functions
    assert "provision.gitlab" in imports(local) and "provision.install.plan" in imports(local)


def test_no_new_layer_violations_and_no_stale_allowances() -> None:
    found = violations()
    new = sorted(set(found) - set(KNOWN))
    gone = sorted(set(KNOWN) - set(found))
    report = [f"new: {a} imports {b} ({found[(a, b)]})" for a, b in new]
    report += [f"gone (delete it from KNOWN): {a} -> {b}" for a, b in gone]
    assert not report, "\n".join(report)
    for (a, b), why in sorted(KNOWN.items()):  # shown in the run's summary until fixed
        warnings.warn(f"allowed layer violation: {a} imports {b} ({why})", LayerDebt, stacklevel=1)


def test_nothing_outside_the_tests_imports_them() -> None:
    found = [f"{path.relative_to(ROOT)} imports {name}"
             for top in ("bench", "scripts", "devstack")
             for path in sorted((ROOT / top).rglob("*.py"))
             for name in sorted(imports(path)) if within(name, "tests")]
    assert not found, "\n".join(found)


def test_no_product_module_imports_devstack_or_the_tests() -> None:
    """The whole of provision/, its CLI too (the core's check above leaves the CLI out)."""
    found = [f"{path.relative_to(ROOT)} imports {name}"
             for path in sorted((ROOT / "provision").rglob("*.py"))
             for name in sorted(imports(path)) if within(name, "devstack") or within(name, "tests")]
    assert not found, "\n".join(found)


def test_the_wheel_leaves_devstack_out() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    assert any(fnmatch.fnmatch("provision.cli", p) for p in include)
    assert not any(fnmatch.fnmatch(name, p) for name in ("devstack", "devstack.sandbox", "tests") for p in include)


class LayerDebt(UserWarning):
    """A known layer violation still allowed by KNOWN."""
