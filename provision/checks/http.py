"""HTTP checks: each smoke test of the spec (`tests.smoke`) against production.

The URL is built from the registry's domain (https when the spec's hosting has TLS); the
connection goes to the application's host (`checks.connect_to`, else the inventory
address), never to an address outside `checks.probe_networks`, with the Host header and
SNI set to the domain. The certificate is not judged here (the tls check does that), so a
certificate problem is reported once, by the check that owns it.
"""

from __future__ import annotations

import functools
import http.client
import socket
import ssl
from typing import Any

from provision.checks.guard import NotAllowed
from provision.checks.results import Result, failed, passed
from provision.checks.runner import Deadline, Unit
from provision.checks.targets import AppTarget, Endpoints

KIND = "http"
MAX_BODY = 1024 * 1024


def unverified_context() -> ssl.SSLContext:
    """A client context that loads no CA store (create_default_context reads the system's
    whole bundle, holding the GIL: per request, that serialised a whole run)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


_CONTEXT = unverified_context()


class _Connection(http.client.HTTPSConnection):
    """HTTP(S) to a fixed address with the name only in Host and SNI."""

    def __init__(self, address: str, port: int, server_name: str, tls: bool, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=_CONTEXT)
        self.server_name = server_name
        self.use_tls = tls
        self._ctx = _CONTEXT

    def connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), self.timeout)
        if self.use_tls:
            self.sock = self._ctx.wrap_socket(self.sock, server_hostname=self.server_name)


def smoke(target: AppTarget, test: Any, endpoints: Endpoints, deadline: Deadline) -> Result:
    scheme, port = ("https", 443) if target.tls else ("http", 80)
    url = f"{scheme}://{target.domain}{test.path}"
    name = f"GET {url}"
    rid = target.request_id
    try:
        addr, p = endpoints.resolve(target.domain, target.host, port)
    except (NotAllowed, LookupError) as e:
        return failed(KIND, rid, name, f"not checked: {e}")
    conn = _Connection(addr, p, target.domain, target.tls, deadline.left())
    try:
        conn.request("GET", test.path, headers={"Host": target.domain, "User-Agent": "kominfo-provision-check",
                                                "Accept": "*/*", "Connection": "close"})
        resp = conn.getresponse()
        body = resp.read(MAX_BODY)
    except (OSError, http.client.HTTPException) as e:
        why = "timed out" if isinstance(e, (socket.timeout, TimeoutError)) else (str(e) or type(e).__name__)
        return failed(KIND, rid, name, f"no answer from {addr}:{p}: {why}")
    finally:
        conn.close()
    if resp.status != test.status:
        loc = resp.getheader("Location")
        extra = f" (Location: {loc})" if loc else ""
        return failed(KIND, rid, name, f"status {resp.status}, expected {test.status}{extra}")
    if test.contains is not None and test.contains.encode("utf-8") not in body:
        return failed(KIND, rid, name, f"status {resp.status}, but the page does not contain {test.contains!r}")
    what = f" and contains {test.contains!r}" if test.contains else ""
    return passed(KIND, rid, name, f"status {resp.status}{what}")


def _smoke_unit(target: AppTarget, test: Any, endpoints: Endpoints, deadline: Deadline) -> list[Result]:
    return [smoke(target, test, endpoints, deadline)]


def _no_spec_unit(error: str, deadline: Deadline) -> list[Result]:
    return _no_spec(error)


def http_units(targets: list[AppTarget], endpoints: Endpoints, timeout: float) -> list[Unit]:
    units: list[Unit] = []
    for t in targets:
        if t.spec is None and t.legacy:
            continue  # no smoke tests recorded for an imported application: the TLS check reaches it
        if t.spec is None:
            units.append(Unit(KIND, f"smoke tests of {t.request_id}", [t.request_id],
                              functools.partial(_no_spec_unit, t.spec_error),
                              timeout, name="smoke tests"))
            continue
        for test in t.spec.tests.smoke:
            scheme = "https" if t.tls else "http"
            units.append(Unit(KIND, f"GET {scheme}://{t.domain}{test.path}", [t.request_id],
                              functools.partial(_smoke_unit, t, test, endpoints), timeout))
    return units


def _no_spec(error: str) -> list[Result]:
    raise RuntimeError(f"no smoke tests: the request has no valid spec ({error or 'none set'})")
