"""What the checks check: every active row of the hosting registry, with its request and spec.

Also the shared facts several checks need: the inventory (SSH connections, the hosts'
addresses), where to connect for a name (`checks.connect_to`, else the host's address),
and the probe allow-list.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from provision.checks.guard import AddressGuard
from provision.errors import ConfigError, NotFound, ProvisionError
from provision.placement import DEFAULT_PHP
from provision.store.models import Hosting, Request, SpecVersion


@dataclass
class AppTarget:
    """One hosted application as recorded: registry row, request and latest spec."""

    request_id: str
    host: str
    domain: str
    runtime: str
    database: str | None
    opd_code: str
    opd_name: str
    spec: Any = None  # None when the request has no valid spec (reported by the checks)
    spec_error: str = ""
    request: Any = None
    legacy: bool = False  # imported by `provision import`: no spec, checked on what it has

    @property
    def instance(self) -> str:
        return self.spec.application.slug if self.spec is not None else self.domain.split(".")[0]

    @property
    def tls(self) -> bool:
        return bool(self.spec.hosting.tls) if self.spec is not None else True

    @property
    def kind(self) -> str:
        """static, php, python or node: the spec's, else the registry's (`php 8.2` -> php)."""
        if self.spec is not None:
            return str(self.spec.runtime.kind)
        return (self.runtime.split() or [""])[0]

    @property
    def php_version(self) -> str:
        if self.spec is not None and self.spec.runtime.kind == "php" and self.spec.runtime.version:
            return str(self.spec.runtime.version)
        parts = self.runtime.split()
        return parts[1] if len(parts) > 1 and parts[0] == "php" else DEFAULT_PHP


@dataclass
class RequestFacts:
    """What `provision.gitlab` needs of a request (the ORM row is detached from its session)."""

    id: str
    opd_code: str
    opd_name: str
    status: str


def load_targets(app: Any, request_id: str | None = None) -> list[AppTarget]:
    """Active registry rows (one request's with `request_id`); NotFound for an unknown request."""
    with app.store.read() as s:
        q = select(Hosting, Request).join(Request, Request.id == Hosting.request_id).where(
            Hosting.status == "active").order_by(Hosting.request_id)
        if request_id:
            q = q.where(Hosting.request_id == request_id)
        rows = [(h.request_id, h.host, h.domain, h.runtime, h.database,
                 RequestFacts(r.id, r.opd_code, r.opd_name, r.status), r.kind == "legacy") for h, r in s.execute(q)]
    if request_id and not rows:
        app.requests.get(request_id)  # NotFound for an unknown request
        raise NotFound(f"request {request_id} has no active hosting in the registry; nothing to check.",
                       "Check `provision hosting` for it, or run `provision check` without --request.")
    texts = latest_spec_texts(app, [r[0] for r in rows])
    reserved = app.config.names.reserved
    out = []
    for rid, host, domain, runtime, database, req, legacy in rows:
        t = AppTarget(rid, host, domain.rstrip(".").lower(), runtime, database or None,
                      req.opd_code, req.opd_name, request=req, legacy=legacy)
        if not legacy or rid in texts:
            t.spec, t.spec_error = parse_stored_spec(app, rid, texts.get(rid), reserved)
        out.append(t)
    return out


def active_request_ids(app: Any) -> set[str]:
    """Every request with active hosting (the owners a zone may name), whatever --request says."""
    with app.store.read() as s:
        hosted = set(s.execute(select(Hosting.request_id).where(Hosting.status == "active")).scalars())
        # A legacy name imported without a site (ownership only) is owned while its request is open.
        return hosted | set(s.execute(select(Request.id).where(Request.kind == "legacy",
                                                               Request.status == "open")).scalars())


def latest_spec_texts(app: Any, request_ids: list[str]) -> dict[str, str]:
    """request -> text of its latest spec version, in one query."""
    if not request_ids:
        return {}
    latest = select(SpecVersion.request_id, func.max(SpecVersion.version).label("v")).group_by(
        SpecVersion.request_id).subquery()
    q = select(SpecVersion.request_id, SpecVersion.text).join(
        latest, (SpecVersion.request_id == latest.c.request_id) & (SpecVersion.version == latest.c.v))
    wanted = set(request_ids)
    with app.store.read() as s:
        return {rid: text for rid, text in s.execute(q) if rid in wanted}


def parse_stored_spec(app: Any, request_id: str, text: str | None, reserved: Any) -> tuple[Any, str]:
    """(spec, error). Stored specs were checked strictly when set; re-reading them with the
    C YAML parser and the same pydantic models is several times faster than the
    line-tracking loader, which runs only when something is wrong, for its message."""
    import yaml

    from provision.spec import DEFAULT_RESERVED, spec_from_data

    if text is None:
        return None, f"request {request_id} has no spec"
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return spec_from_data(data, reserved=reserved if reserved is not None else DEFAULT_RESERVED,
                              source=f"{request_id} spec"), ""
    except (yaml.YAMLError, ProvisionError):
        try:
            return app.specs.get(request_id), ""
        except ProvisionError as e:
            return None, str(e)


def host_addresses(hv: dict[str, Any]) -> list[str]:
    """A host's addresses as its variables give them: `provision_addresses` (not checked
    here), plus `ansible_host` when it is an IP address."""
    out = [str(a) for a in hv.get("provision_addresses") or []]
    ah = str(hv.get("ansible_host", ""))
    try:
        ipaddress.ip_address(ah)
        out.append(ah)
    except ValueError:
        pass
    return out


@dataclass
class Inventory:
    """The parts of the Ansible inventory the checks use."""

    hostvars: dict[str, dict[str, Any]] = field(default_factory=dict)

    def addresses(self, host: str) -> list[str]:
        """The host's IP addresses: `provision_addresses`, plus `ansible_host` when it is an IP."""
        return [str(ipaddress.ip_address(a)) for a in dict.fromkeys(host_addresses(self.hostvars.get(host, {})))]

    def all_addresses(self) -> dict[str, str]:
        """address -> inventory host."""
        return {a: h for h in sorted(self.hostvars) for a in self.addresses(h)}


def load_check_inventory(config: Any) -> Inventory:
    """The inventory through Ansible (`ansible-inventory --list`, seconds on a busy host).

    A plain inventory file (not executable, not a directory) is cached by its content
    (and its group_vars/host_vars files' times and sizes) under <state_dir>/cache, so a nightly run pays for Ansible only after an edit; dynamic
    inventories (scripts, plugins in a directory) are read every time.
    """
    path = config.hosting.inventory
    if not path:
        return Inventory()
    from provision.install.inventory import load_inventory

    p = Path(path).expanduser()
    cacheable = p.is_file() and not os.access(p, os.X_OK) and p.suffix in (".yml", ".yaml", ".ini", "")
    cache = None
    if cacheable:
        h = hashlib.sha256(str(p.resolve()).encode() + b"\0" + p.read_bytes())
        for vars_dir in (p.parent / "group_vars", p.parent / "host_vars"):  # read by Ansible too
            for f in sorted(vars_dir.rglob("*")) if vars_dir.is_dir() else []:
                st = f.stat()
                h.update(f"{f}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
        digest = h.hexdigest()[:32]
        cache = config.state_dir / "cache" / f"inventory-{digest}.json"
        try:
            return Inventory(json.loads(cache.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            pass
    hostvars = load_inventory(path).hostvars
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(hostvars, default=str), encoding="utf-8")
            tmp.replace(cache)
        except OSError:
            pass  # a cache that cannot be written only costs time
    return Inventory(hostvars)


def split_hostport(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{what}: {text!r} is not host:port.")
    return host, int(port)


class Endpoints:
    """Where a check connects for (name, port): checks.connect_to, else the host's address."""

    def __init__(self, connect_to: dict[str, str], inventory: Inventory, guard: AddressGuard) -> None:
        self.map = {k.lower(): split_hostport(v, f"checks.connect_to[{k!r}]") for k, v in connect_to.items()}
        self.inventory = inventory
        self.guard = guard

    def resolve(self, domain: str, host: str, port: int) -> tuple[str, int]:
        """(address, port) to connect to; raises NotAllowed when outside the allow-list,
        LookupError when nothing says where the name lives."""
        for key in (f"{domain}:{port}", f"{host}:{port}"):
            if key.lower() in self.map:
                addr, p = self.map[key.lower()]
                self.guard.require(addr)
                return addr, p
        addrs = self.inventory.addresses(host)
        if not addrs:
            raise LookupError(f"no address for {host}: set provision_addresses in the inventory "
                              f"or checks.connect_to[\"{host}:{port}\"]")
        self.guard.require(addrs[0])
        return addrs[0], port
