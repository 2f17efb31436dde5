"""Helpers for the check tests: configuration, requests with specs, hosting registry rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from devstack.toml import toml_value
from tests.helpers import run_cli


def write_config(home: Path, **sections: dict[str, Any]) -> Path:
    """provision.toml with a state dir in `home` and the given sections."""
    sections = {"general": {"state_dir": str(home / "state")}, **sections}
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
        lines.append("")
    path = home / "provision.toml"
    path.write_text("\n".join(lines))
    return path


def spec_dict(slug: str, records: list[dict[str, Any]] | None = None, *, kind: str = "php", host: str = "web1",
              database: str = "none", tls: bool = True, smoke: list[dict[str, Any]] | None = None,
              members: list[dict[str, str]] | None = None) -> dict[str, Any]:
    runtime: dict[str, Any] = {"kind": kind}
    if kind == "php":
        runtime["version"] = "8.2"
    return {"version": 1, "application": {"slug": slug, "name": f"Aplikasi {slug}"},
            "repository": {"members": members or []},
            "runtime": runtime, "hosting": {"host": host, "database": database, "tls": tls},
            "dns": {"records": records or []},
            "tests": {"smoke": smoke or [{"path": "/", "status": 200}]}}


def open_request(home: Path, spec: dict[str, Any], opd: str = "disdik") -> str:
    r = run_cli("request", "open", "--opd-code", opd, "--opd-name", "Dinas Pendidikan", "--app",
                spec["application"]["name"], "--letter-number", "005/DISDIK/2026", "--letter-date",
                "2026-11-02", "--json")
    assert r.exit_code == 0, r
    rid = r.json["id"]
    f = home / f"{spec['application']['slug']}.yaml"
    f.write_text(yaml.safe_dump(spec, sort_keys=False))
    r = run_cli("spec", "set", rid, str(f))
    assert r.exit_code == 0, r
    return rid


def register(rid: str, host: str, domain: str, runtime: str = "php", database: str | None = None,
             status: str = "active") -> None:
    """A hosting registry row, as `provision hosting apply` records it."""
    from provision.context import App
    from provision.store.models import Hosting

    app = App()
    now = dt.datetime.now(dt.UTC)
    with app.store.write() as s:
        s.merge(Hosting(request_id=rid, host=host, domain=domain, runtime=runtime, database=database,
                        tls_expiry=None, status=status, created_at=now, updated_at=now))
    app.store.dispose()


def by(results: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [r for r in results if all(r.get(k) == v for k, v in match.items())]


def problems(results: list[dict[str, Any]]) -> list[tuple[str, str | None, str, str]]:
    return sorted(((r["status"], r["request"], r["check"], r["name"]) for r in results if r["status"] != "pass"),
                  key=lambda p: (p[0], p[1] or "", p[2], p[3]))
