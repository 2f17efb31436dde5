"""TLS checks: the certificate each application serves chains to the configured CA bundle,
matches its domain, and is not about to expire (`checks.tls_warn_days`, `tls_fail_days`).

One handshake with verification says whether the chain and the name are right; the leaf
certificate (read without verification when that handshake fails) gives the expiry, so an
expired certificate is reported as expired, with its date, not as a bare "verify failed".
"""

from __future__ import annotations

import datetime as dt
import functools
import socket
import ssl

from cryptography import x509

from provision.checks.guard import NotAllowed
from provision.checks.results import Result, failed, passed, warned
from provision.checks.runner import Deadline, Unit
from provision.checks.targets import AppTarget, Endpoints

KIND = "tls"


def _handshake(addr: str, port: int, server_name: str, ctx: ssl.SSLContext, timeout: float) -> bytes:
    with socket.create_connection((addr, port), timeout=timeout) as sock:
        with ctx.wrap_socket(sock, server_hostname=server_name) as tls:
            der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the server sent no certificate")
    return der


def verifying_context(ca_bundle: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_bundle or None)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _raw_context() -> ssl.SSLContext:
    from provision.checks.http import unverified_context

    return unverified_context()


def _certificate_unit(target: AppTarget, endpoints: Endpoints, ctx: ssl.SSLContext, warn_days: int,
                      fail_days: int, deadline: Deadline) -> list[Result]:
    return [check_certificate(target, endpoints, ctx, warn_days, fail_days, deadline)]


def check_certificate(target: AppTarget, endpoints: Endpoints, ctx: ssl.SSLContext, warn_days: int,
                      fail_days: int, deadline: Deadline, now: dt.datetime | None = None) -> Result:
    rid, domain = target.request_id, target.domain
    name = f"certificate of {domain}"
    try:
        addr, port = endpoints.resolve(domain, target.host, 443)
    except (NotAllowed, LookupError) as e:
        return failed(KIND, rid, name, f"not checked: {e}")
    problem = ""
    try:
        der = _handshake(addr, port, domain, ctx, deadline.left())
    except ssl.SSLCertVerificationError as e:
        problem = _verify_problem(e)
        try:
            der = _handshake(addr, port, domain, _raw_context(), deadline.left())
        except (OSError, ssl.SSLError) as e2:
            return failed(KIND, rid, name, f"{problem}; the certificate could not be read: {e2}")
    except (OSError, ssl.SSLError) as e:
        why = "timed out" if isinstance(e, (socket.timeout, TimeoutError)) else (str(e) or type(e).__name__)
        return failed(KIND, rid, name, f"no TLS handshake with {addr}:{port}: {why}")
    cert = x509.load_der_x509_certificate(der)
    expiry = cert.not_valid_after_utc
    now = now or dt.datetime.now(dt.UTC)
    days = (expiry - now).total_seconds() / 86400
    when = expiry.strftime("%Y-%m-%d %H:%M UTC")
    if days < 0:
        return failed(KIND, rid, name, f"expired on {when} ({-days:.0f} days ago)")
    if problem:
        return failed(KIND, rid, name, f"{problem} (expires {when})")
    if days < fail_days:
        return failed(KIND, rid, name, f"expires in {days:.1f} days ({when}); under checks.tls_fail_days={fail_days}")
    if days < warn_days:
        return warned(KIND, rid, name, f"expires in {days:.1f} days ({when}); under checks.tls_warn_days={warn_days}")
    return passed(KIND, rid, name, f"valid, name matches, expires in {days:.0f} days ({when})")


def _verify_problem(e: ssl.SSLCertVerificationError) -> str:
    code = getattr(e, "verify_code", None)
    msg = getattr(e, "verify_message", "") or str(e)
    if code == 62 or "mismatch" in msg.lower():
        return f"the certificate does not match the name ({msg})"
    if code == 10:
        return "the certificate has expired"
    if code in (2, 18, 19, 20, 21):
        return f"the chain does not lead to a trusted CA (checks.ca_bundle): {msg}"
    return f"the certificate does not verify: {msg}"


def tls_units(targets: list[AppTarget], endpoints: Endpoints, ca_bundle: str, warn_days: int,
              fail_days: int, timeout: float) -> list[Unit]:
    ctx = verifying_context(ca_bundle)
    return [Unit(KIND, f"certificate of {t.domain}", [t.request_id],
                 functools.partial(_certificate_unit, t, endpoints, ctx, warn_days, fail_days), timeout)
            for t in targets if t.tls]
